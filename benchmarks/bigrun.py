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
   run.py's process-tree sampler (wall time, peak RSS summed over the tree, the kernel's
   ru_maxrss, bytes written) while a thread samples the temp directory's size.
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
import contextlib
import json
import os
import re
import shlex
import shutil
import sys
import sysconfig
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.corpus import format_size, parse_size
from benchmarks.run import measure, shuf_big_command

MASK = (1 << 64) - 1
GEN_SEED = 20261125
SHUFFLE_SEED = 42
CHUNK_LINES = 1 << 15
READ_CHUNK = 1 << 18  # digest chunks that stay in the CPU caches
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


# -- the digest ---------------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class RecordDigest:
    """Order-independent digest of the records of a byte stream fed in arbitrary pieces."""

    BASES = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)

    def __init__(self, sep: int = 10) -> None:
        self.sep = sep
        self.carry = np.empty(0, dtype=np.uint8)
        self.count = 0
        self.total = 0
        self.xor = 0
        self.squares = 0
        self.bytes = 0
        self.powers: list[tuple[np.ndarray, np.ndarray]] = []
        self.table = 0

    def _tables(self, n: int) -> None:
        """base**j and base**-j mod 2**64 for j < n, for both bases."""
        if n <= self.table:
            return
        n = max(n, 2 * self.table)
        self.powers = []
        for base in self.BASES:
            inverse = pow(base, -1, 1 << 64)
            pw = np.empty(n, dtype=np.uint64)
            inv = np.empty(n, dtype=np.uint64)
            pw[0] = inv[0] = 1
            # doubling: table[k:2k] = table[:k] * base**k
            k = 1
            while k < n:
                m = min(k, n - k)
                pw[k : k + m] = pw[:m] * np.uint64(pow(base, k, 1 << 64))
                inv[k : k + m] = inv[:m] * np.uint64(pow(inverse, k, 1 << 64))
                k += m
            self.powers.append((pw, inv))
        self.table = n

    def feed(self, data: np.ndarray) -> None:
        self.bytes += len(data)
        buf = np.concatenate((self.carry, data)) if len(self.carry) else data
        seps = np.flatnonzero(buf == self.sep)
        if not len(seps):
            self.carry = buf.copy()
            return
        used = int(seps[-1]) + 1
        self._records(buf[:used], seps)
        self.carry = buf[used:].copy()

    def _records(self, buf: np.ndarray, seps: np.ndarray) -> None:
        starts = np.concatenate(([0], seps[:-1] + 1))
        lengths = (seps - starts).astype(np.uint64)
        self._tables(len(buf) + 1)
        values = buf.astype(np.uint64) + np.uint64(1)
        h = lengths * np.uint64(0xD6E8FEB86659FD93)
        for rot, (pw, inv) in enumerate(self.powers):
            prefix = np.zeros(len(buf) + 1, dtype=np.uint64)
            np.cumsum(values * pw[: len(buf)], out=prefix[1:])
            poly = (prefix[seps] - prefix[starts]) * inv[starts]
            h = _mix(h ^ (poly if rot == 0 else (poly << np.uint64(32)) | (poly >> np.uint64(32))))
        self.count += len(h)
        self.total = (self.total + int(h.sum(dtype=np.uint64))) & MASK
        self.xor ^= int(np.bitwise_xor.reduce(h))
        self.squares = (self.squares + int((h * h).sum(dtype=np.uint64))) & MASK

    def finish(self) -> dict:
        if len(self.carry):  # a last record without a separator
            self._records(np.append(self.carry, np.uint8(self.sep)), np.array([len(self.carry)]))
            self.carry = np.empty(0, dtype=np.uint8)
        return {
            "records": self.count,
            "sum": f"{self.total:016x}",
            "xor": f"{self.xor:016x}",
            "sum_squares": f"{self.squares:016x}",
        }


def digest_file(path: Path, sep: int = 10) -> tuple[dict, float]:
    start = time.perf_counter()
    digest = RecordDigest(sep)
    buffer = np.empty(READ_CHUNK, dtype=np.uint8)
    with path.open("rb", buffering=0) as f:
        while got := f.readinto(memoryview(buffer)):
            digest.feed(buffer[:got])
    return digest.finish(), time.perf_counter() - start


# -- the run ------------------------------------------------------------------------------


class TempSampler(threading.Thread):
    """Peak bytes allocated under a directory tree, sampled every ``interval`` seconds."""

    def __init__(self, root: Path, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.stop = threading.Event()
        self.peak = 0

    def run(self) -> None:
        while not self.stop.is_set():
            used = 0
            for folder, _, names in os.walk(self.root):
                for name in names:
                    with contextlib.suppress(OSError):  # deleted meanwhile
                        used += os.lstat(os.path.join(folder, name)).st_blocks * 512
            self.peak = max(self.peak, used)
            self.stop.wait(self.interval)


def build_input(path: Path, size: int, meta_path: Path) -> dict:
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
            if digest.bytes - reported >= 1 << 30:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("20G"), help="input size (default 20G)")
    parser.add_argument("--mem", default="512M", help="shuf-big --mem (default 512M)")
    parser.add_argument("--work", type=Path, default=Path("/work/bigrun-data"), help="data directory (not the repo)")
    parser.add_argument("--jobs", type=int, default=None, help="shuf-big -j (default: its own default)")
    parser.add_argument("--json", type=Path, default=None, help="result file (default WORK/result.json)")
    parser.add_argument("--shuf-big", default=None, help="the shuf-big command (default: the venv's)")
    parser.add_argument("--keep", action="store_true", help="keep the input and output afterwards")
    args = parser.parse_args(argv)

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    src, dst = work / "input.txt", work / "output.txt"
    result_path = args.json or work / "result.json"
    need = int(args.size * 2.2) - (src.stat().st_size if src.exists() else 0)
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"bigrun.py: need about {format_size(need)} free in {work}, {format_size(free)} free")

    print(f"building {src} ({format_size(args.size)})", flush=True)
    meta = build_input(src, args.size, work / "input.meta.json")
    print(f"input: {meta['bytes']} bytes, {meta['digest']['records']} records, built in {meta['build_s']} s")

    argv_run = [*shuf_big_command(args.shuf_big), str(src), "-o", str(dst), "--mem", args.mem]
    argv_run += ["-T", str(tmp), "--seed", str(SHUFFLE_SEED), "--no-progress"]
    if args.jobs:
        argv_run += ["-j", str(args.jobs)]
    print("running:", shlex.join(argv_run), flush=True)
    sampler = TempSampler(tmp)
    sampler.start()
    m = measure(argv_run, work / "stderr.txt", interval=0.05, timeout=None, env=dict(os.environ))
    sampler.stop.set()
    sampler.join()
    print(f"exit {m.exit_code}, {m.wall_s:.1f} s, peak tree RSS {format_size(m.peak_tree_rss)}", flush=True)
    if m.exit_code:
        print(m.stderr, file=sys.stderr)

    out_digest, digest_s = digest_file(dst) if m.exit_code == 0 else (None, 0.0)
    # The digest alone would accept an unshuffled copy: the output must also start differently.
    with src.open("rb") as a, dst.open("rb") as b:
        reordered = m.exit_code == 0 and a.read(1 << 20) != b.read(1 << 20)
    verdict = "permutation" if out_digest == meta["digest"] and reordered else "MISMATCH"
    if m.exit_code:
        verdict = f"shuf-big failed (exit {m.exit_code})"
    mem = parse_size(args.mem)
    result = {
        "command": shlex.join(argv_run),
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
        "temp_peak_bytes": sampler.peak,
        "temp_peak": format_size(sampler.peak),
        "output_bytes": dst.stat().st_size if dst.exists() else None,
        "input_digest": meta["digest"],
        "output_digest": out_digest,
        "output_digest_s": round(digest_s, 1),
        "first_mib_reordered": reordered,
        "verdict": verdict,
        "cpus": len(os.sched_getaffinity(0)),
        "stderr": m.stderr.strip()[-500:],
    }
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        for path in (src, dst, work / "input.meta.json"):
            path.unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if verdict == "permutation" else 1)


if __name__ == "__main__":
    main()
