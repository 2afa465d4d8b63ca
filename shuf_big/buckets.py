"""Bucket files: pass 1 appends each record to the file of its key-bit prefix.

A bucket is two temp files: its records in input order, and their global indices coded
as 2-byte gaps (see :func:`shuf_big.core.encode_gaps`), from which pass 2 redraws keys.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np

from . import core
from .errors import ShufBigError, describe
from .outputs import write_all
from .records import LongRecord, parts_within


@dataclass
class Bucket:
    """A pair of temp files: records (in input order) and their encoded index gaps."""

    path: str
    prefix_bits: int
    nbytes: int
    nrecords: int

    @property
    def records_path(self) -> str:
        return self.path + ".rec"

    @property
    def gaps_path(self) -> str:
        return self.path + ".idx"

    def remove(self) -> None:
        for path in (self.records_path, self.gaps_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@dataclass
class BucketWriter:
    """Appends scattered batches to ``2**fanout_bits`` bucket files."""

    dirs: list[str]
    name: str
    prefix_bits: int
    fanout_bits: int
    nbytes: np.ndarray = field(init=False)
    nrecords: np.ndarray = field(init=False)
    last_index: np.ndarray = field(init=False)
    fds: list[tuple[int, int]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        n = 1 << self.fanout_bits
        self.nbytes = np.zeros(n, dtype=np.int64)
        self.nrecords = np.zeros(n, dtype=np.int64)
        self.last_index = np.full(n, -1, dtype=np.int64)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            for b in range(n):
                path = self.path(b)
                self.fds.append((os.open(path + ".rec", flags, 0o600), os.open(path + ".idx", flags, 0o600)))
        except OSError as err:
            self.close()
            raise ShufBigError(f"cannot create temporary file in '{self.dirs[0]}': {describe(err)}") from None

    def path(self, b: int) -> str:
        return os.path.join(self.dirs[b % len(self.dirs)], f"{self.name}{b:x}")

    def _error(self, b: int, err: OSError) -> ShufBigError:
        folder = os.path.dirname(self.path(b))
        return ShufBigError(f"write error in temporary directory '{folder}': {describe(err)}")

    def write(self, s: core.Scattered) -> None:
        """Append a scattered batch; batches must come in input order (gap coding)."""
        gaps, gap_bounds = core.encode_bucket_gaps(s, self.last_index)
        counts = s.counts
        for b in np.flatnonzero(counts).tolist():
            records_fd, gaps_fd = self.fds[b]
            try:
                write_all(records_fd, [memoryview(s.data[s.data_bounds[b] : s.data_bounds[b + 1]])])
                write_all(gaps_fd, [memoryview(gaps[gap_bounds[b] : gap_bounds[b + 1]]).cast("B")])
            except OSError as err:
                raise self._error(b, err) from None
        self.nbytes += np.diff(s.data_bounds)
        self.nrecords += counts

    def write_long(self, spec: core.KeySpec, record: LongRecord, limit: int) -> None:
        """Stream one record that does not fit the read buffer to its bucket."""
        indices = np.array([record.index], dtype=np.int64)
        b = int(core.bucket_ids(core.draw_keys(spec, indices), self.prefix_bits, self.fanout_bits)[0])
        records_fd, gaps_fd = self.fds[b]
        size = 0
        for part in parts_within(record, limit):
            size += len(part)
            try:
                write_all(records_fd, [part])
            except OSError as err:
                raise self._error(b, err) from None
        gaps = core.encode_gaps(indices, self.last_index[b : b + 1])
        try:
            write_all(gaps_fd, [memoryview(gaps).cast("B")])
        except OSError as err:
            raise self._error(b, err) from None
        self.last_index[b] = record.index
        self.nbytes[b] += size
        self.nrecords[b] += 1

    def close(self) -> None:
        for pair in self.fds:
            for fd in pair:
                os.close(fd)
        self.fds = []

    def buckets(self) -> list[Bucket]:
        """Close the files and return the non-empty buckets in key order."""
        self.close()
        out = []
        for b in range(1 << self.fanout_bits):
            bucket = Bucket(
                self.path(b), self.prefix_bits + self.fanout_bits, int(self.nbytes[b]), int(self.nrecords[b])
            )
            if bucket.nrecords:
                out.append(bucket)
            else:
                bucket.remove()
        return out
