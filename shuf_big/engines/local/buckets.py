"""Bucket files: pass 1 appends each record to the file of its key-bit prefix.

A bucket is two temp files: its records in input order, and their global indices coded
as 2-byte gaps (see :func:`shuf_big.core.encode_gaps`), from which pass 2 redraws keys.
Both stay open from pass 1 until the bucket is ordered and are read back through their
descriptors: nameless files (``O_TMPFILE``) have no other handle.  With compressed temp
files (``packed``) each write is one zstd frame (:mod:`shuf_big.files.frames`): a batch's
records are compressed by the worker that scattered it, their gaps by the writer.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shuf_big import core
from shuf_big.errors import ShufBigError, describe
from shuf_big.files.frames import Unpacked, compress
from shuf_big.files.records import LongRecord, RawReader, parts_within, pread_fully, read_fully
from shuf_big.system.descriptors import write_all
from shuf_big.system.tempfiles import TempDirs, TempFile

MARK_EVERY = 1 << 20  # plain bytes between two marked frame boundaries of a packed bucket
# A map over worker threads (Workers.map), for loading one packed bucket in parallel.
Map = Callable[..., list[Any]]


@dataclass
class Bucket:
    """A pair of open temp files: records (in input order) and their encoded index gaps.

    Both are read back through their descriptors (a nameless file has no other handle)."""

    records: TempFile
    gaps: TempFile
    prefix_bits: int
    nbytes: int
    nrecords: int
    packed: bool = False  # written as zstd frames
    gap_bytes: int = 0  # the index gaps' bytes before compression
    # a packed records file's frame boundaries, every MARK_EVERY bytes or so: (packed, plain) offsets
    marks: np.ndarray = field(default_factory=lambda: np.zeros((1, 2), np.int64))

    @property
    def what(self) -> str:
        return self.records.what

    def records_into(self, view: memoryview, run: Map | None = None, parts: int = 1) -> int:
        """Read the records into ``view`` (positioned reads: any thread); a packed bucket's
        frames are decoded in ``parts`` runs by ``run`` (a map over threads) when given."""
        if self.packed:
            runs = self._runs(parts if run is not None else 1)
            fd = self.records.fd
            decode = lambda r: read_fully(Unpacked(fd, self.what, r[0], r[1]), view[r[2] : r[3]], self.what)  # noqa: E731
            return sum((run or map)(decode, runs))
        try:
            return pread_fully(self.records.fd, view, 0)
        except OSError as err:
            raise ShufBigError(f"read error on {self.what}: {describe(err)}") from None

    def _runs(self, parts: int) -> list[tuple[int, int, int, int]]:
        """The frames cut at marks into ``parts`` runs of about equal bytes: (packed start,
        end, plain start, end) of each."""
        packed, plain = self.marks[:, 0], self.marks[:, 1]
        inner = np.searchsorted(plain, plain[-1] * np.arange(1, parts) / parts)
        cuts = np.unique(np.concatenate(([0], inner, [len(plain) - 1])))
        return [(int(packed[a]), int(packed[b]), int(plain[a]), int(plain[b])) for a, b in itertools.pairwise(cuts)]

    def _stream(self, file: TempFile) -> RawReader:
        if self.packed:
            return Unpacked(file.fd, file.what)
        stream = io.FileIO(file.fd, "rb", closefd=False)
        stream.seek(0)
        return stream

    def streams(self) -> tuple[RawReader, RawReader]:
        """Sequential readers of the records and their index gaps, from their starts (the
        descriptors stay open: :meth:`remove` closes them)."""
        return self._stream(self.records), self._stream(self.gaps)

    def gap_stream(self) -> RawReader:
        """A sequential reader of the index gaps alone."""
        return self._stream(self.gaps)

    def temp_bytes(self) -> int:
        """Bytes on disk: records and index gaps."""
        return self.records.size() + self.gaps.size()

    def plain_bytes(self) -> int:
        """What :meth:`temp_bytes` would be uncompressed."""
        return self.nbytes + self.gap_bytes

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
    packed: bool = False
    nbytes: np.ndarray = field(init=False)
    nrecords: np.ndarray = field(init=False)
    last_index: np.ndarray = field(init=False)
    files: list[tuple[TempFile, TempFile]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        n = 1 << self.fanout_bits
        self.nbytes = np.zeros(n, dtype=np.int64)
        self.nrecords = np.zeros(n, dtype=np.int64)
        self.gap_bytes = np.zeros(n, dtype=np.int64)
        self.packed_bytes = np.zeros(n, dtype=np.int64)  # each records file's size, when packed
        self.marks: list[list[int]] = [[0, 0] for _ in range(n)]  # flat (packed, plain) pairs
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

    def pack(self, s: core.Scattered) -> list[memoryview] | None:
        """Each bucket's records of ``s`` as one frame (on any thread), when packed."""
        if not self.packed:
            return None
        bounds = s.data_bounds
        return [compress(memoryview(s.data[bounds[b] : bounds[b + 1]])) for b in np.flatnonzero(s.counts).tolist()]

    def write(self, s: core.Scattered, frames: list[memoryview] | None = None) -> None:
        """Append a scattered batch (with its :meth:`pack` frames, made now if not given);
        batches must come in input order (gap coding)."""
        gaps, gap_bounds = core.encode_bucket_gaps(s, self.last_index)
        if self.packed and frames is None:
            frames = self.pack(s)
        counts = s.counts
        for n, b in enumerate(np.flatnonzero(counts).tolist()):
            records, gaps_file = self.files[b]
            data = memoryview(s.data[s.data_bounds[b] : s.data_bounds[b + 1]]) if frames is None else frames[n]
            gap = memoryview(gaps[gap_bounds[b] : gap_bounds[b + 1]]).cast("B")
            try:
                write_all(records.fd, [data])
                write_all(gaps_file.fd, [compress(gap) if self.packed else gap])
            except OSError as err:
                raise self._error(b, err) from None
            if frames is not None:
                self._mark(b, len(data), int(self.nbytes[b] + s.data_bounds[b + 1] - s.data_bounds[b]))
        self.nbytes += np.diff(s.data_bounds)
        self.nrecords += counts
        self.gap_bytes += 2 * np.diff(gap_bounds)

    def write_long(self, spec: core.KeySpec, record: LongRecord, limit: int) -> None:
        """Stream one record that does not fit the read buffer to its bucket."""
        indices = np.array([record.index], dtype=np.int64)
        b = int(core.bucket_ids(core.draw_keys(spec, indices), self.prefix_bits, self.fanout_bits)[0])
        records, gaps_file = self.files[b]
        size = 0
        for part in parts_within(record, limit):
            size += len(part)
            frame = compress(part) if self.packed else part
            try:
                write_all(records.fd, [frame])
            except OSError as err:
                raise self._error(b, err) from None
            if self.packed:
                self._mark(b, len(frame), int(self.nbytes[b]) + size)
        gaps = memoryview(core.encode_gaps(indices, self.last_index[b : b + 1])).cast("B")
        try:
            write_all(gaps_file.fd, [compress(gaps) if self.packed else gaps])
        except OSError as err:
            raise self._error(b, err) from None
        self.last_index[b] = record.index
        self.nbytes[b] += size
        self.nrecords[b] += 1
        self.gap_bytes[b] += len(gaps)

    def _mark(self, b: int, packed: int, end: int) -> None:
        """Count a frame of ``packed`` bytes of bucket ``b`` that ends at plain offset
        ``end``; mark a boundary after it every MARK_EVERY bytes."""
        self.packed_bytes[b] += packed
        if end - self.marks[b][-1] >= MARK_EVERY:
            self.marks[b] += [int(self.packed_bytes[b]), end]

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
            counts = int(self.nbytes[b]), int(self.nrecords[b])
            marks = np.array(self.marks[b] + [int(self.packed_bytes[b]), counts[0]], dtype=np.int64).reshape(-1, 2)
            bucket = Bucket(records, gaps, bits, *counts, self.packed, int(self.gap_bytes[b]), marks)
            if bucket.nrecords:
                out.append(bucket)
            else:
                bucket.remove()
        self.files = []
        return out
