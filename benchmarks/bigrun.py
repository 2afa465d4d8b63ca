"""One big end-to-end run: build a large text input, shuffle it, prove the output is a permutation.

    python -m benchmarks.bigrun --size 20G --mem 512M --work /work/bigrun-data

Steps:

1. Build ``WORK/input.txt`` of ``--size`` bytes (cut at a line boundary): English-like
   lines of words drawn with their real frequencies from the texts in
   /usr/share/common-licenses (plus the Python standard library's sources for a larger
   vocabulary), a log-normal number of words per line (median 11; 64 bytes per line on average).
   Generation is numpy gathers; with the digest it took 1291 s for 20 GiB on this
   project's 2-core machine (shared with test runs).  While it is written, the input's
   record digest is computed from the same bytes; an input whose sidecar
   (``input.meta.json``) matches is reused with ``--keep``.
2. Run ``shuf-big INPUT -o OUTPUT --mem MEM -T WORK/tmp --seed S`` and measure it with
   the suite's process-tree sampler (measure.py: wall time, peak RSS summed over the tree,
   the kernel's ru_maxrss, bytes written) while a thread samples the temp directory's size.
3. Digest the output the same way and compare; check that its first MiB differs from the
   input's (the digest alone would accept an unshuffled copy).

The digest is order-independent and streaming (bounded memory, whatever the size): every
record (its bytes without the separator) gets a 64-bit hash, and the digest is the record
count, the sum, the xor and the sum of squares of the hashes mod 2**64.  The per-record
hash is computed for a whole chunk at once with numpy: two polynomial hashes mod 2**64
(fixed odd 64-bit bases) of the record's bytes, from prefix sums of ``byte * base**position``
divided by ``base**start`` (odd numbers are invertible mod 2**64), mixed with the record
length through the splitmix64 finaliser.  Any lost, duplicated, truncated or altered record
changes the digest unless hashes collide (chance about 2**-64 per pair).

The result is printed and written to ``--json`` (default WORK/result.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.commands import shuf_big_command
from benchmarks.measure import Measurement, TempSampler, measure
from benchmarks.record_digest import READ_CHUNK, RecordDigest, digest_file
from benchmarks.units import GiB, format_size, parse_size

GEN_SEED = 20261125
SHUFFLE_SEED = 42
CHUNK_LINES = 1 << 15
_WORD = re.compile(rb"[A-Za-z][a-z]{0,15}")


# -- the input ----------------------------------------------------------------------------


def vocabulary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, length, cumulative frequency) of words seen in the system's texts.

    Row ``i`` holds word ``i`` and a space, zero-padded to a fixed width, so a line is built
    by gathering rows and dropping the padding with one boolean mask.
    """
    counts: Counter[bytes] = Counter()
    sources = sorted(Path("/usr/share/common-licenses").glob("*"))
    sources += sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    for path in sources:
        if path.is_file():
            counts.update(_WORD.findall(path.read_bytes()))
    if len(counts) < 1000:
        raise SystemExit("bigrun.py: found too few words for a vocabulary")
    words = sorted(counts, key=lambda w: (-counts[w], w))
    width = max(len(w) for w in words) + 1
    rows = np.zeros((len(words), width), dtype=np.uint8)
    for i, w in enumerate(words):
        rows[i, : len(w) + 1] = np.frombuffer(w + b" ", dtype=np.uint8)
    length = np.array([len(w) + 1 for w in words], dtype=np.int64)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return rows, length, np.cumsum(freq) / freq.sum()


def text_chunks(size: int) -> Iterator[np.ndarray]:
    """Yield byte arrays of whole lines, ``size`` bytes in all (the last line cut to fit)."""
    rows, wlen, cum = vocabulary()
    keep = np.arange(rows.shape[1]) < wlen[:, None]  # per word: its bytes, not the padding
    # Draw words by frequency with one gather: a quantised inverse of the cumulative distribution.
    table = np.minimum(np.searchsorted(cum, (np.arange(1 << 20) + 0.5) / (1 << 20)), len(cum) - 1).astype(np.int32)
    rng = np.random.default_rng(GEN_SEED)
    left = size
    while left > 0:
        nwords = np.clip(rng.lognormal(np.log(11), 0.6, CHUNK_LINES), 1, 400).astype(np.int64)
        ids = table[rng.integers(0, 1 << 20, int(nwords.sum()), dtype=np.int32)]
        tok = wlen[ids]  # each word with its following space
        dst_end = np.cumsum(tok)
        out = rows[ids][keep[ids]]
        total = len(out)
        out[dst_end[np.cumsum(nwords) - 1] - 1] = ord("\n")  # the last space of a line
        if total >= left:
            hits = np.flatnonzero(out[:left] == ord("\n"))
            out = out[: int(hits[-1]) + 1 if len(hits) else 0]
        left -= len(out)
        yield out
        if len(out) == 0:
            return


# -- the run ------------------------------------------------------------------------------


def build_input(path: Path, size: int, meta_path: Path) -> dict[str, Any]:
    """Write the input and its record digest from the same bytes; reuse one whose sidecar matches."""
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("size") == size and path.stat().st_size == meta.get("bytes"):
            print(f"reusing {path} ({format_size(meta['bytes'])})", flush=True)
            return meta
    start = time.perf_counter()
    digest = RecordDigest()
    reported = 0
    with path.open("wb") as f:
        for chunk in text_chunks(size):
            f.write(memoryview(chunk))
            for at in range(0, len(chunk), READ_CHUNK):
                digest.feed(chunk[at : at + READ_CHUNK])
            if digest.bytes - reported >= GiB:
                reported = digest.bytes
                print(f"  generated {format_size(reported)} in {time.perf_counter() - start:.0f} s", flush=True)
    meta = {
        "size": size,
        "bytes": path.stat().st_size,
        "digest": digest.finish(),
        "build_s": round(time.perf_counter() - start, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("20G"), help="input size (default 20G)")
    parser.add_argument("--mem", default="512M", help="shuf-big --mem (default 512M)")
    parser.add_argument("--work", type=Path, default=Path("/work/bigrun-data"), help="data directory (not the repo)")
    parser.add_argument("--jobs", type=int, default=None, help="shuf-big -j (default: its own default)")
    parser.add_argument("--json", type=Path, default=None, help="result file (default WORK/result.json)")
    parser.add_argument("--shuf-big", default=None, help="the shuf-big command (default: the venv's)")
    parser.add_argument("--keep", action="store_true", help="keep the input and output afterwards")
    return parser.parse_args(argv)


def shuffle(src: Path, dst: Path, tmp: Path, args: argparse.Namespace) -> tuple[list[str], Measurement, int]:
    """Run and measure shuf-big on the input; the command, its measurement and the temp space's peak."""
    argv = [*shuf_big_command(args.shuf_big), str(src), "-o", str(dst), "--mem", args.mem]
    argv += ["-T", str(tmp), "--seed", str(SHUFFLE_SEED), "--no-progress"]
    if args.jobs:
        argv += ["-j", str(args.jobs)]
    print("running:", shlex.join(argv), flush=True)
    sampler = TempSampler(tmp)
    sampler.start()
    m = measure(argv, args.work / "stderr.txt", interval=0.05, timeout=None, env=dict(os.environ))
    sampler.finish()
    print(f"exit {m.exit_code}, {m.wall_s:.1f} s, peak tree RSS {format_size(m.peak_tree_rss)}", flush=True)
    if m.exit_code:
        print(m.stderr, file=sys.stderr)
    return argv, m, sampler.peak


def verdict_of(src: Path, dst: Path, m: Measurement, meta: dict[str, Any]) -> dict[str, Any]:
    """The output's digest against the input's, and whether its first MiB moved: the digest
    alone would accept an unshuffled copy."""
    done = m.exit_code == 0 and dst.exists()
    out_digest, digest_s = digest_file(dst) if done else (None, 0.0)
    reordered = False
    if done:
        with src.open("rb") as a, dst.open("rb") as b:
            reordered = a.read(1 << 20) != b.read(1 << 20)
    verdict = "permutation" if out_digest == meta["digest"] and reordered else "MISMATCH"
    if m.exit_code:
        verdict = f"shuf-big failed (exit {m.exit_code})"
    return {
        "output_digest": out_digest,
        "output_digest_s": round(digest_s, 1),
        "first_mib_reordered": reordered,
        "verdict": verdict,
    }


def result_of(argv: list[str], m: Measurement, temp_peak: int, meta: dict[str, Any], args: argparse.Namespace) -> dict:
    """The run's figures as result.json holds them (the check's fields are added after)."""
    mem = parse_size(args.mem)
    return {
        "command": shlex.join(argv),
        "input_bytes": meta["bytes"],
        "input_size": format_size(meta["bytes"]),
        "records": meta["digest"]["records"],
        "mem_budget_bytes": mem,
        "exit_code": m.exit_code,
        "wall_s": round(m.wall_s, 1),
        "user_s": round(m.user_s, 1),
        "sys_s": round(m.sys_s, 1),
        "peak_tree_rss_bytes": m.peak_tree_rss,
        "peak_tree_rss": format_size(m.peak_tree_rss),
        "largest_process_rss_bytes": m.largest_process,
        "largest_process_rss_source": m.largest_process_source,
        "peak_rss_over_budget": format_size((m.largest_process or m.peak_tree_rss) - mem),
        "rss_samples": m.samples,
        "bytes_written": (m.io or {}).get("write_bytes"),
        "temp_peak_bytes": temp_peak,
        "temp_peak": format_size(temp_peak),
        "input_digest": meta["digest"],
        "cpus": len(os.sched_getaffinity(0)),
        "stderr": m.stderr.strip()[-500:],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work: Path = args.work
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    src, dst = work / "input.txt", work / "output.txt"
    need = int(args.size * 2.2) - (src.stat().st_size if src.exists() else 0)
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"bigrun.py: need about {format_size(need)} free in {work}, {format_size(free)} free")
    print(f"building {src} ({format_size(args.size)})", flush=True)
    meta = build_input(src, args.size, work / "input.meta.json")
    print(f"input: {meta['bytes']} bytes, {meta['digest']['records']} records, built in {meta['build_s']} s")
    run_argv, m, temp_peak = shuffle(src, dst, tmp, args)
    result = result_of(run_argv, m, temp_peak, meta, args)
    result["output_bytes"] = dst.stat().st_size if dst.exists() else None
    result.update(verdict_of(src, dst, m, meta))
    (args.json or work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        for path in (src, dst, work / "input.meta.json"):
            path.unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if result["verdict"] == "permutation" else 1)


if __name__ == "__main__":
    main()
