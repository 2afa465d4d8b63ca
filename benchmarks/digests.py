"""Checking outputs: the digests and comparisons every benchmark uses, written once.

Three digests, for three needs:

* ``line_digest``: order-independent, fast (~90 ns a 14-byte line), comparable only within one
  process (Python's keyed ``hash()``): is this output a permutation of that input?
* ``record_digest.RecordDigest``: order-independent, the same on every machine and in every
  process, about 2.5x slower on short lines; for an input's digest kept in a sidecar (bigrun.py).
  It needs numpy, which this module does not load: run.py imports it and must stay small.
* ``stream_digest``: BLAKE2b of files decompressed and concatenated in order: are these
  outputs, however sharded or compressed, the same bytes?
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.units import MiB


def line_digest(path: Path) -> tuple[int, int]:
    """(lines, sum of per-line hashes mod 2**64): equal for any order of the same lines.

    Uses Python's built-in bytes hash (64-bit SipHash, keyed per process), so digests are
    comparable only within one process: digest the input and the outputs in the same one.
    Per-line blake2b-64 gives a key-independent digest but is ~5x slower (about 440 ns per
    14-byte line against ~90 ns: ~65 s against ~13 s for 2 GiB of words).
    """
    total = 0
    lines = 0
    with path.open("rb", buffering=MiB) as f:
        for line in f:
            total += hash(line)
            lines += 1
    return lines, total % (1 << 64)


def same_bytes(a: Path, b: Path, chunk: int = 4 * MiB) -> bool:
    """Whether two files hold the same bytes (sizes first: most differing files stop there)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    buf_a, buf_b = bytearray(chunk), bytearray(chunk)
    with a.open("rb", buffering=0) as fa, b.open("rb", buffering=0) as fb:
        while True:
            n = fa.readinto(buf_a)
            if n != fb.readinto(buf_b) or buf_a[:n] != buf_b[:n]:
                return False
            if not n:
                return True


def _blocks(f: Any) -> Iterator[bytes]:
    while block := f.read(4 * MiB):
        yield block


def decompressed(path: Path) -> Iterator[bytes]:
    """The bytes of ``path``, decompressed by its name (.gz: gzip; .zst: the zstd command or module)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            yield from _blocks(f)
    elif path.suffix == ".zst" and shutil.which("zstd"):
        with subprocess.Popen(["zstd", "-dcq", str(path)], stdout=subprocess.PIPE) as proc:
            yield from _blocks(proc.stdout)
        if proc.returncode != 0:
            raise OSError(f"zstd -d failed on {path}")
    elif path.suffix == ".zst":
        import zstandard

        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as f:
            yield from _blocks(f)
    else:
        with path.open("rb") as f:
            yield from _blocks(f)


def can_decompress(files: list[Path]) -> bool:
    """Whether ``decompressed`` can read all of ``files`` here (.zst needs zstd or zstandard)."""
    zst = any(p.suffix == ".zst" for p in files)
    return not zst or shutil.which("zstd") is not None or importlib.util.find_spec("zstandard") is not None


def stream_digest(files: list[Path]) -> tuple[int, str]:
    """(bytes, BLAKE2b hex) of the files decompressed and concatenated in order."""
    h = hashlib.blake2b(digest_size=16)
    n = 0
    for path in files:
        for block in decompressed(path):
            h.update(block)
            n += len(block)
    return n, h.hexdigest()
