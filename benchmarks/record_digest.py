"""An order-independent digest of a stream's records, the same on every machine (numpy).

Streaming and in bounded memory whatever the size, so bigrun.py can digest 20 GiB while it
writes it and keep the result in a sidecar; see digests.py for the other digests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

MASK = (1 << 64) - 1
READ_CHUNK = 1 << 18  # chunks small enough to stay in the CPU caches


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class RecordDigest:
    """Order-independent digest of the records of a byte stream fed in arbitrary pieces.

    Every record (its bytes without the separator) gets a 64-bit hash: two polynomial hashes
    mod 2**64 (fixed odd bases) from prefix sums of ``byte * base**position`` divided by
    ``base**start`` (odd numbers are invertible mod 2**64), mixed with the record's length
    through splitmix64.  The digest is the count, sum, xor and sum of squares of the hashes.
    """

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
        """Add the bytes of ``data``; a record cut at its end is kept for the next piece."""
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

    def finish(self) -> dict[str, Any]:
        """The digest, as JSON can hold it; a last record without a separator counts."""
        if len(self.carry):
            self._records(np.append(self.carry, np.uint8(self.sep)), np.array([len(self.carry)]))
            self.carry = np.empty(0, dtype=np.uint8)
        return {
            "records": self.count,
            "sum": f"{self.total:016x}",
            "xor": f"{self.xor:016x}",
            "sum_squares": f"{self.squares:016x}",
        }


def digest_file(path: Path, sep: int = 10) -> tuple[dict[str, Any], float]:
    """A file's RecordDigest and the seconds it took."""
    start = time.perf_counter()
    digest = RecordDigest(sep)
    buffer = np.empty(READ_CHUNK, dtype=np.uint8)
    with path.open("rb", buffering=0) as f:
        while got := f.readinto(memoryview(buffer)):
            digest.feed(buffer[:got])
    return digest.finish(), time.perf_counter() - start
