"""A quick side-by-side: shuf-big (external and in memory), GNU shuf and the I/O floor.

    python benchmarks/quick.py --size 256M --profile words

Builds a synthetic corpus of the chosen line-length profile (printable random text),
then runs each command a few times, alternating, and prints the median wall time.
The full benchmark suite (real-text corpora, ratios, chart) is issue #3's work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shuf_big.sizes import parse_size

PROFILES = {"words": (8, 20), "sentences": (20, 80), "docs": (1000, 5400)}


def make_corpus(path: Path, size: int, lengths: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     etaoin", dtype=np.uint8)
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = max((8 << 20) // sum(lengths) * 2, 1)
            lens = rng.integers(lengths[0], lengths[1] + 1, n)
            buf = alphabet[rng.integers(0, len(alphabet), int(lens.sum()) + n)]
            buf[np.cumsum(lens + 1) - 1] = 10
            f.write(buf.tobytes())
            written += len(buf)


def timed(cmd: str) -> float:
    """Wall seconds of one shell command."""
    start = time.perf_counter()
    subprocess.run(["bash", "-c", cmd], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256M")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="sentences")
    parser.add_argument("--mem", default="64M", help="budget of the external run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="shuf-big-bench-"))
    try:
        src = work / "in.txt"
        make_corpus(src, size, PROFILES[args.profile])
        exe = shutil.which("shuf-big") or f"{sys.executable} -m shuf_big"
        commands = {
            "floor (cat in>tmp; cat tmp>out)": f"cat {src} > {work}/tmp && cat {work}/tmp > {work}/out",
            f"shuf-big --mem {args.mem}": f"{exe} {src} --mem {args.mem} -T {work} -o {work}/out",
            "shuf-big in memory": f"{exe} {src} --mem {size * 4} -o {work}/out",
            "GNU shuf": f"shuf {src} -o {work}/out",
        }
        results: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                results[name].append(timed(cmd))
        print(f"{args.profile}, {os.path.getsize(src) / 2**20:.0f} MiB, median of {args.runs} alternating runs")
        for name, walls in results.items():
            print(f"  {name:34s} {statistics.median(walls):7.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
