"""The Dask engine's spill files: a map task's scattered batches, read back by range.

A spill file holds, batch after batch, each batch's records grouped by bucket and their
index gaps; one index row per (batch, bucket) says where its records and gaps are, so a
reduce task reads only its bucket's ranges.  With compressed temp files (``packed``) each
range is one zstd frame (:mod:`shuf_big.files.frames`): spills on object storage, where
bytes cost money, and on scratch space that lacks room for them plain.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import numpy as np

from shuf_big import core
from shuf_big.budget.sizes import format_size
from shuf_big.errors import ShufBigError, TempCompressionNotice
from shuf_big.files.frames import compress, decompress
from shuf_big.files.records import read_fully
from shuf_big.storage.objects import AtomicFile, open_object
from shuf_big.storage.urls import StorageOptions, is_url
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


def _read_range(handle: io.BufferedIOBase, at: int, size: int, what: str, packed: bool) -> np.ndarray:
    """``size`` bytes at ``at``, decoded if ``packed``."""
    raw = np.empty(size, dtype=np.uint8)
    handle.seek(at)
    if read_fully(handle, memoryview(raw), what) != size:
        raise ShufBigError(f"temporary file {what} is truncated")
    return np.frombuffer(decompress(memoryview(raw), what), dtype=np.uint8) if packed else raw


def _read_into(handle: io.BufferedIOBase, row: np.ndarray, out: np.ndarray, what: str, packed: bool) -> None:
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


def load_rows(
    rows: np.ndarray, spills: list[str], options: StorageOptions, packed: bool, into: np.ndarray | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each index row's records and their global indices, one row at a time; with
    ``into``, the rows' records are read into its consecutive slices (no copy)."""
    handles: dict[int, io.BufferedIOBase] = {}
    at = 0
    try:
        for row in rows:
            spill = int(row[SPILL])
            what = f"'{spills[spill]}'"
            if spill not in handles:
                handles[spill] = open_object(spills[spill], what, options)
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
        for handle in handles.values():
            handle.close()


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
