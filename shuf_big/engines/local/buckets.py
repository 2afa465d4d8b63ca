"""Bucket files: pass 1 appends each record to the file of its key-bit prefix.

A bucket is two temp files: its records in input order, and their global indices coded
as 2-byte gaps (see :func:`shuf_big.core.encode_gaps`), from which pass 2 redraws keys.
Both stay open from pass 1 until the bucket is ordered and are read back through their
descriptors: nameless files (``O_TMPFILE``) have no other handle.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from shuf_big import core
from shuf_big.errors import ShufBigError, describe
from shuf_big.files.outputs import write_all
from shuf_big.files.records import LongRecord, parts_within, pread_fully
from shuf_big.system.tempfiles import TempDirs, TempFile


@dataclass
class Bucket:
    """A pair of open temp files: records (in input order) and their encoded index gaps.

    Both are read back through their descriptors (a nameless file has no other handle)."""

    records: TempFile
    gaps: TempFile
    prefix_bits: int
    nbytes: int
    nrecords: int

    @property
    def what(self) -> str:
        return self.records.what

    def records_into(self, view: memoryview) -> int:
        """Read the records file into ``view`` (positioned reads: safe on any thread)."""
        try:
            return pread_fully(self.records.fd, view, 0)
        except OSError as err:
            raise ShufBigError(f"read error on {self.what}: {describe(err)}") from None

    def read_gaps(self) -> np.ndarray:
        """The whole gaps file, as 2-byte codes."""
        try:
            size = self.gaps.size()
            codes = np.empty(size // 2, dtype=np.uint16)
            got = pread_fully(self.gaps.fd, memoryview(codes).cast("B"), 0)
        except OSError as err:
            raise ShufBigError(f"read error on {self.gaps.what}: {describe(err)}") from None
        return codes[: got // 2]

    def streams(self) -> tuple[io.FileIO, io.FileIO]:
        """Sequential readers of the records and gaps files, from their starts (the
        descriptors stay open: :meth:`remove` closes them)."""
        out = []
        for file in (self.records, self.gaps):
            stream = io.FileIO(file.fd, "rb", closefd=False)
            stream.seek(0)
            out.append(stream)
        return out[0], out[1]

    def temp_bytes(self) -> int:
        """Bytes on disk: records and index gaps."""
        return self.nbytes + self.gaps.size()

    def remove(self) -> None:
        self.records.close()
        self.gaps.close()


@dataclass
class BucketWriter:
    """Appends scattered batches to ``2**fanout_bits`` bucket files."""

    temp: TempDirs
    name: str
    prefix_bits: int
    fanout_bits: int
    nbytes: np.ndarray = field(init=False)
    nrecords: np.ndarray = field(init=False)
    last_index: np.ndarray = field(init=False)
    files: list[tuple[TempFile, TempFile]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        n = 1 << self.fanout_bits
        self.nbytes = np.zeros(n, dtype=np.int64)
        self.nrecords = np.zeros(n, dtype=np.int64)
        self.last_index = np.full(n, -1, dtype=np.int64)
        try:
            for b in range(n):
                name = f"{self.name}{b:x}"
                records = self.temp.open_file(b, name + ".rec")
                try:
                    gaps = self.temp.open_file(b, name + ".idx")
                except OSError:
                    records.close()
                    raise
                self.files.append((records, gaps))
        except OSError as err:
            folder = self.temp.folders[len(self.files) % len(self.temp.folders)]
            self.close()
            raise ShufBigError(f"cannot create temporary file in '{folder}': {describe(err)}") from None

    def _error(self, b: int, err: OSError) -> ShufBigError:
        folder = self.files[b][0].folder
        return ShufBigError(f"write error in temporary directory '{folder}': {describe(err)}")

    def write(self, s: core.Scattered) -> None:
        """Append a scattered batch; batches must come in input order (gap coding)."""
        gaps, gap_bounds = core.encode_bucket_gaps(s, self.last_index)
        counts = s.counts
        for b in np.flatnonzero(counts).tolist():
            records, gaps_file = self.files[b]
            try:
                write_all(records.fd, [memoryview(s.data[s.data_bounds[b] : s.data_bounds[b + 1]])])
                write_all(gaps_file.fd, [memoryview(gaps[gap_bounds[b] : gap_bounds[b + 1]]).cast("B")])
            except OSError as err:
                raise self._error(b, err) from None
        self.nbytes += np.diff(s.data_bounds)
        self.nrecords += counts

    def write_long(self, spec: core.KeySpec, record: LongRecord, limit: int) -> None:
        """Stream one record that does not fit the read buffer to its bucket."""
        indices = np.array([record.index], dtype=np.int64)
        b = int(core.bucket_ids(core.draw_keys(spec, indices), self.prefix_bits, self.fanout_bits)[0])
        records, gaps_file = self.files[b]
        size = 0
        for part in parts_within(record, limit):
            size += len(part)
            try:
                write_all(records.fd, [part])
            except OSError as err:
                raise self._error(b, err) from None
        gaps = core.encode_gaps(indices, self.last_index[b : b + 1])
        try:
            write_all(gaps_file.fd, [memoryview(gaps).cast("B")])
        except OSError as err:
            raise self._error(b, err) from None
        self.last_index[b] = record.index
        self.nbytes[b] += size
        self.nrecords[b] += 1

    def close(self) -> None:
        """Close and remove every file (after a failure)."""
        for pair in self.files:
            for file in pair:
                file.close()
        self.files = []

    def buckets(self) -> list[Bucket]:
        """The non-empty buckets in key order, their files still open for pass 2; empty
        ones are closed."""
        out = []
        bits = self.prefix_bits + self.fanout_bits
        for b, (records, gaps) in enumerate(self.files):
            bucket = Bucket(records, gaps, bits, int(self.nbytes[b]), int(self.nrecords[b]))
            if bucket.nrecords:
                out.append(bucket)
            else:
                bucket.remove()
        self.files = []
        return out
