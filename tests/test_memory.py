"""Bounded memory: the budget holds for any input size and any line-length mix."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import threading
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

import shuf_big
from shuf_big.api import run
from shuf_big.budget.plan import Plan
from shuf_big.options.resolve import resolve

MiB = 1 << 20
INTERPRETER_ALLOWANCE = 64 * MiB  # the promise: peak RSS <= --mem + 64 MiB


def write_corpus(path: Path, total: int, lengths: tuple[int, int], seed: int = 0, giants: int = 0) -> None:
    """Random printable lines with lengths uniform in ``lengths``, plus ``giants`` 300 KB lines."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b'abcdefghijklmnopqrstuvwxyz {}:,"', dtype=np.uint8)
    with path.open("wb") as f:
        written = 0
        while written < total:
            lens = rng.integers(
                lengths[0], lengths[1] + 1, max(min(total - written, 4 * MiB) // (sum(lengths) // 2 + 1), 1)
            )
            buf = alphabet[rng.integers(0, len(alphabet), int(lens.sum()) + len(lens))]
            buf[np.cumsum(lens + 1) - 1] = 10
            if giants:
                f.write(b"G" * (300 << 10) + b"\n")
                giants -= 1
            f.write(buf.tobytes())
            written += len(buf)


def digest(path: Path) -> bytes:
    """Order-independent digest of the records (sum of per-record hashes)."""
    acc = 0
    with path.open("rb") as f:
        for line in f:
            acc += int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "little")
    return (acc % (1 << 128)).to_bytes(16, "little")


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(
    ("name", "lengths", "giants"),
    [("short", (5, 15), 0), ("long", (1500, 2500), 0), ("empty lines", (0, 0), 0), ("mixed", (0, 40), 3)],
)
def test_numpy_allocations_stay_under_the_budget(
    tmp_path: Path, name: str, lengths: tuple[int, int], giants: int, jobs: int
) -> None:
    """tracemalloc sees every numpy buffer: their peak must stay under --mem in every phase."""
    mem = 1 * MiB
    src = tmp_path / "in.txt"
    # 8x the budget; 3x for one-byte records, whose 3 M records already take the external
    # path through hundreds of tiny batches (8x made this the suite's slowest test, 90 s).
    write_corpus(src, (3 if lengths == (0, 0) else 8) * mem, lengths, giants=giants)
    tracemalloc.start()
    try:
        job = resolve(str(src), str(tmp_path / "out.txt"), seed=1, tmp_dirs=[str(tmp_path)])
        run(replace(job, plan=Plan.for_budget(mem, jobs=jobs)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"{name}, -j {jobs}: traced peak {peak / MiB:.2f} MiB for --mem 1M")
    assert peak <= mem
    assert digest(tmp_path / "out.txt") == digest(src)


class TreeMonitor(threading.Thread):
    """Samples the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            self.done.wait(0.01)


# Beyond what the same command takes for a two-line input, a run may use --mem, plus this
# for what no budget can count (thread stacks, the allocator's own pages, modules the
# external path imports): measured 15.1 and 10.6 MiB beyond the baseline for --mem 16M.
SLACK = 4 * MiB


def _peaks(args: list[str]) -> tuple[int, int, int]:
    """Run ``args`` under a probe interpreter: the command's peak RSS, the probe's own, and
    the summed RSS of the whole tree, sampled."""
    probe = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", probe, *args], stdout=subprocess.PIPE)
    monitor = TreeMonitor(proc.pid)
    monitor.start()
    stdout, _ = proc.communicate(timeout=300)
    monitor.done.set()
    monitor.join()
    assert proc.returncode == 0
    child, own = (int(line) for line in stdout.split())
    return child, own, monitor.peak


@pytest.mark.parametrize(("name", "lengths"), [("short ~10 B", (5, 15)), ("long ~2 KB", (1500, 2500))])
def test_peak_rss_of_process_tree_under_budget(
    shuf_big_cmd: list[str], tmp_path: Path, name: str, lengths: tuple[int, int]
) -> None:
    """The promise, tightly: the run's RSS beyond the interpreter's and the package's own
    (the same command on a two-line input, measured here) stays within --mem."""
    mem = 16 * MiB
    src = tmp_path / "in.txt"
    write_corpus(src, 8 * mem, lengths, seed=3)
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(b"a\nb\n")
    out = tmp_path / "out.txt"
    flags = ["-o", str(out), "--mem", "16M", "-T", str(tmp_path), "--seed", "1"]
    baseline, _, _ = _peaks([*shuf_big_cmd, str(tiny), *flags])
    max_rss, probe_rss, tree = _peaks([*shuf_big_cmd, str(src), *flags])
    print(
        f"{name}: input {src.stat().st_size / MiB:.0f} MiB, --mem 16M, peak RSS {max_rss / MiB:.1f} MiB, "
        f"{(max_rss - baseline) / MiB:.1f} MiB over the {baseline / MiB:.1f} MiB of a two-line run; "
        f"{tree / MiB:.1f} MiB sampled over the tree incl. the probe"
    )
    assert baseline <= INTERPRETER_ALLOWANCE
    assert max_rss - baseline <= mem + SLACK
    assert tree <= probe_rss + baseline + mem + SLACK
    assert out.stat().st_size == src.stat().st_size
    assert digest(out) == digest(src)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("shuf-big-")]


@pytest.mark.parametrize("lengths", [(5, 15), (1500, 2500)])
def test_iter_shuffled_holds_its_queue_within_the_budget(tmp_path: Path, lengths: tuple[int, int]) -> None:
    """The iterator's queued chunks count against --mem: the traced peak of the run and
    the consumer together stays under it, and the records are the file output's."""
    mem = 1 * MiB
    src = tmp_path / "in.txt"
    write_corpus(src, (2 if lengths[0] < 100 else 6) * mem, lengths, seed=5)
    tracemalloc.start()
    try:
        acc = 0
        for record in shuf_big.iter_shuffled(str(src), mem="1M", jobs=1, seed=1, tmp_dirs=[str(tmp_path)]):
            acc += int.from_bytes(hashlib.blake2b(record, digest_size=8).digest(), "little")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"iter_shuffled {lengths}: traced peak {peak / MiB:.2f} MiB for mem='1M'")
    assert peak <= mem
    assert (acc % (1 << 128)).to_bytes(16, "little") == digest(src)


def test_compressed_blocks_in_flight_stay_under_the_budget(tmp_path: Path) -> None:
    """Blocks compressed on two workers, their compressed copies, the encoders and the
    records being ordered: tracemalloc's peak stays under --mem."""
    mem = 8 * MiB
    src = tmp_path / "in.txt"
    write_corpus(src, 4 * mem, (1500, 2500))
    out = tmp_path / "out.gz"
    tracemalloc.start()
    try:
        run(resolve(str(src), str(out), seed=1, mem=mem, jobs=2, tmp_dirs=[str(tmp_path)]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"gzip, --mem 8M -j 2: traced peak {peak / MiB:.2f} MiB")
    assert peak <= mem
    (tmp_path / "out.txt").write_bytes(gzip.decompress(out.read_bytes()))
    assert digest(tmp_path / "out.txt") == digest(src)
