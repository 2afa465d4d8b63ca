"""The Dask engine's spill files: a map task's scattered batches, read back by range.

A spill file holds, batch after batch, each batch's records grouped by bucket and their
index gaps; one index row per (batch, bucket) says where its records and gaps are, so a
reduce task reads only its bucket's ranges.  With compressed temp files (``packed``) each
range is one zstd frame (:mod:`shuf_big.files.frames`): spills on object storage, where
bytes cost money, and on scratch space that lacks room for them plain.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from shuf_big import core
from shuf_big.budget.sizes import format_size
from shuf_big.errors import ShufBigError, TempCompressionNotice
from shuf_big.files.frames import compress, decompress
from shuf_big.files.records import read_fully
from shuf_big.storage.failures import remote_errors
from shuf_big.storage.objects import AtomicFile, open_object
from shuf_big.storage.urls import StorageOptions, filesystem, is_url
from shuf_big.system.space import free_text, plain_need, shortfall

# Index columns of a spill file's ranges, one row per (batch, bucket) with records: where
# its records and gaps are (compressed, when packed), and the records' own bytes.
BUCKET, DATA_AT, DATA_LEN, GAPS_AT, GAPS_LEN, RECORDS, BASE, NBYTES = COLUMNS = range(8)
# Index rows gathered by the driver gain this column: which spill file a row is in.
SPILL = len(COLUMNS)


def append_batch(spill: AtomicFile, s: core.Scattered, last_index: np.ndarray, packed: bool) -> np.ndarray:
    """Write one scattered batch and return its index rows: plain, its records then its
    gaps; packed, each bucket's records and gaps as two frames.

    Gaps restart at each batch (from the batch's first index), so every row decodes on
    its own.
    """
    base = int(s.indices.min()) - 1 if len(s.indices) else -1
    last_index[:] = base
    gaps, gap_bounds = core.encode_bucket_gaps(s, last_index)
    counts = s.counts
    filled = np.flatnonzero(counts)
    rows = np.empty((len(filled), len(COLUMNS)), dtype=np.int64)
    rows[:, BUCKET] = filled
    rows[:, RECORDS] = counts[filled]
    rows[:, BASE] = base
    rows[:, NBYTES] = s.data_bounds[filled + 1] - s.data_bounds[filled]
    if packed:
        for n, b in enumerate(filled.tolist()):
            frames = [compress(memoryview(s.data[s.data_bounds[b] : s.data_bounds[b + 1]]))]
            frames.append(compress(memoryview(gaps[gap_bounds[b] : gap_bounds[b + 1]]).cast("B")))
            at = spill.written  # a packed spill counts the frames' bytes
            spill.write(frames)
            rows[n, DATA_AT], rows[n, DATA_LEN] = at, len(frames[0])
            rows[n, GAPS_AT], rows[n, GAPS_LEN] = at + len(frames[0]), len(frames[1])
        return rows
    data_at = spill.written
    nbytes = int(s.data_bounds[-1])
    spill.write([memoryview(s.data[:nbytes]), memoryview(gaps).cast("B")])
    gaps_at = data_at + nbytes
    rows[:, DATA_AT] = data_at + s.data_bounds[filled]
    rows[:, DATA_LEN] = s.data_bounds[filled + 1] - s.data_bounds[filled]
    rows[:, GAPS_AT] = gaps_at + 2 * gap_bounds[filled]
    rows[:, GAPS_LEN] = 2 * (gap_bounds[filled + 1] - gap_bounds[filled])
    return rows


_local = threading.local()


def _held(size: int) -> np.ndarray:
    """This worker thread's buffer for a run of batches, kept from task to task (its pages
    are not faulted in again for every map task)."""
    buffer: np.ndarray | None = getattr(_local, "held", None)
    if buffer is None or len(buffer) < size:
        _local.held = None
        buffer = _local.held = np.empty(size, dtype=np.uint8)
    return buffer[:size]


def release_held() -> None:
    _local.held = None


class SpillWriter:
    """A map task's spill file, filled batch by batch, one index row per (run, bucket).

    With ``hold`` bytes, batches are gathered into runs of up to that size, each bucket's
    part of a run written as one range (gaps continue from batch to batch): on object
    storage a range is a request, and a block that fits ``hold`` is one range per bucket.
    Without (a local disk), each batch is written at once, from the scatter's buffer while
    it is still in the CPU's cache, as one run of its own.
    """

    def __init__(self, spill: AtomicFile, buckets: int, packed: bool, hold: int) -> None:
        self.spill = spill
        self.packed = packed
        self.last = np.full(buckets, -1, dtype=np.int64)  # per bucket, the last index written
        self.base = self.last.copy()  # the same at the start of the run being gathered
        self.held = _held(hold) if hold else None
        self.batches: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.used = 0
        self.rows: list[np.ndarray] = []

    def add(self, s: core.Scattered) -> None:
        nbytes = int(s.data_bounds[-1])
        if self.held is None or nbytes > len(self.held):
            self.flush()
            self.rows.append(append_batch(self.spill, s, self.last, self.packed))
            self.base[:] = self.last
            return
        if self.used + nbytes > len(self.held):
            self.flush()
        self.held[self.used : self.used + nbytes] = s.data[:nbytes]
        gaps, gap_bounds = core.encode_bucket_gaps(s, self.last)
        self.batches.append((self.used, s.data_bounds.copy(), gaps, gap_bounds.copy(), s.counts))
        self.used += nbytes

    def flush(self) -> None:
        """Write the gathered run: each bucket's records, then its gaps (two frames if packed)."""
        if not self.batches:
            return
        assert self.held is not None
        counts = np.sum([batch[4] for batch in self.batches], axis=0)
        filled = np.flatnonzero(counts)
        rows = np.empty((len(filled), len(COLUMNS)), dtype=np.int64)
        for n, b in enumerate(filled.tolist()):
            data = [memoryview(self.held[at + bounds[b] : at + bounds[b + 1]]) for at, bounds, *_ in self.batches]
            gaps = [memoryview(g[gb[b] : gb[b + 1]]).cast("B") for _, _, g, gb, _ in self.batches]
            nbytes = sum(len(part) for part in data)
            if self.packed:
                data, gaps = [compress(memoryview(b"".join(data)))], [compress(memoryview(b"".join(gaps)))]
            at = self.spill.written
            self.spill.write(data + gaps)
            data_len = sum(len(part) for part in data)
            rows[n] = (b, at, data_len, at + data_len, sum(len(part) for part in gaps), counts[b], self.base[b], nbytes)
        self.rows.append(rows)
        self.base[:] = self.last
        self.batches = []
        self.used = 0

    def index(self) -> np.ndarray:
        self.flush()
        return np.concatenate(self.rows) if self.rows else np.empty((0, len(COLUMNS)), dtype=np.int64)


def _read_range(handle: Any, at: int, size: int, what: str, packed: bool) -> np.ndarray:
    """``size`` bytes at ``at``, decoded if ``packed``."""
    raw = np.empty(size, dtype=np.uint8)
    handle.seek(at)
    if read_fully(handle, memoryview(raw), what) != size:
        raise ShufBigError(f"temporary file {what} is truncated")
    return np.frombuffer(decompress(memoryview(raw), what), dtype=np.uint8) if packed else raw


def _read_into(handle: Any, row: np.ndarray, out: np.ndarray, what: str, packed: bool) -> None:
    """A row's records into ``out`` (exactly their size): read in place, or decoded."""
    if packed:
        data = _read_range(handle, int(row[DATA_AT]), int(row[DATA_LEN]), what, packed)
        if len(data) != len(out):
            raise ShufBigError(f"temporary file {what} is corrupt")
        out[:] = data
        return
    handle.seek(int(row[DATA_AT]))
    if read_fully(handle, memoryview(out), what) != len(out):
        raise ShufBigError(f"temporary file {what} is truncated")


# Rows fetched from object storage at a time: their requests go out concurrently.
FETCH_BYTES = 16 << 20


class _Span(io.RawIOBase):
    """A fetched byte range of a spill file, read as the file would be (seek, readinto)."""

    def __init__(self, data: bytes, base: int) -> None:
        self.data = memoryview(data)
        self.base = self.pos = base

    def seek(self, at: int, whence: int = 0) -> int:
        self.pos = at
        return at

    def readinto(self, view: memoryview) -> int:  # type: ignore[override]
        lo = self.pos - self.base
        n = max(min(len(view), len(self.data) - lo), 0)
        view[:n] = self.data[lo : lo + n]
        self.pos += n
        return n


def _fetched(rows: np.ndarray, spills: list[str], options: StorageOptions) -> Iterator[io.RawIOBase]:
    """Each row's range (its records, then its gaps) from object storage: rows of up to
    :data:`FETCH_BYTES` together, by one concurrent batch of requests (fsspec's
    ``cat_ranges``), so a reduce task waits for one round trip per batch, not per row."""
    fs, _ = filesystem(spills[0], options)
    paths = [filesystem(url, options)[1] for url in spills]
    lo, size = 0, 0
    for hi, row in enumerate(rows, 1):
        size += int(row[DATA_LEN] + row[GAPS_LEN])
        if size < FETCH_BYTES and hi < len(rows):
            continue
        batch = rows[lo:hi]
        starts = batch[:, DATA_AT].tolist()
        ends = (batch[:, GAPS_AT] + batch[:, GAPS_LEN]).tolist()
        with remote_errors("cannot read the temporary files"):
            blobs = fs.cat_ranges([paths[int(k)] for k in batch[:, SPILL]], starts, ends)
        for blob, start in zip(blobs, starts, strict=True):
            yield _Span(blob, start)
        lo, size = hi, 0


def load_rows(
    rows: np.ndarray, spills: list[str], options: StorageOptions, packed: bool, into: np.ndarray | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each index row's records and their global indices, one row at a time; with
    ``into``, the rows' records are read into its consecutive slices (no copy)."""
    handles: dict[int, io.BufferedIOBase] = {}
    remote = _fetched(rows, spills, options) if len(rows) and is_url(spills[0]) else None
    at = 0
    try:
        for row in rows:
            spill = int(row[SPILL])
            what = f"'{spills[spill]}'"
            if remote is not None:
                handle: Any = next(remote)
            else:
                if spill not in handles:
                    handles[spill] = open_object(spills[spill], what, options, ranges=True)
                handle = handles[spill]
            if into is None:
                data = _read_range(handle, int(row[DATA_AT]), int(row[DATA_LEN]), what, packed)
            else:
                data = into[at : at + int(row[NBYTES])]
                _read_into(handle, row, data, what, packed)
                at += len(data)
            gaps = _read_range(handle, int(row[GAPS_AT]), int(row[GAPS_LEN]), what, packed).view(np.uint16)
            decoder = core.GapDecoder()
            decoder.last = int(row[BASE])
            yield data, decoder.feed(gaps)
    finally:
        for opened in handles.values():
            opened.close()


def spill_packing(mode: str, run: str, nbytes: int, records: int) -> bool:
    """Whether the spill files of a run in ``run`` are compressed (``--compress-temp``):
    ``auto`` compresses them on object storage, where every byte is paid for and moved
    over the network, and on a file system without room for them plain (saying so)."""
    if mode != "auto":
        return mode == "always"
    if is_url(run):
        return True
    need = plain_need(nbytes, nbytes / max(records, 1))
    if shortfall([run], need) is None:
        return False
    warnings.warn(
        TempCompressionNotice(
            f"temp space: {free_text([run])}, plain spill files need about {format_size(need)}: compressing them"
        ),
        stacklevel=2,
    )
    return True
