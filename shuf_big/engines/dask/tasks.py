"""The Dask engine's tasks: module-level functions (Dask pickles them) over :mod:`shuf_big.core`.

1. **count** (:func:`count_block`): a block's exact byte bounds and record count (on a
   local cluster run by the driver's own threads, without task round trips).
2. **map** (:func:`map_block`): keys from global indices, records scattered by key bits
   into one spill file per block, with index rows saying where each bucket's part is.
3. **reduce** (:mod:`shuf_big.engines.dask.reduce`): buckets ordered by key and written to
   their place in the output.
4. **concat** (:func:`concat_output`): only where reduce tasks write pieces (sharded or
   compressed outputs, a remote cluster writing a local file): an output's header and
   pieces in bucket order.

Every file a task writes appears by an atomic rename when complete (or is a byte range
or upload part it rewrites), so a task that Dask reruns after losing a worker just writes
it again.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, TypeVar, cast

import numpy as np

from shuf_big import core
from shuf_big.budget.malloc import tune_for_budget
from shuf_big.budget.plan import Plan
from shuf_big.engines.dask.spills import SpillWriter
from shuf_big.errors import RecordTooLarge, ShufBigError
from shuf_big.files.compression import Codec
from shuf_big.files.headers import split_header
from shuf_big.files.protocol import PrefixedReader, Reader
from shuf_big.files.readers import Decompressed, FileObject
from shuf_big.files.records import Counter, LongRecord, RawReader, RecordReader, parts_within, read_fully
from shuf_big.storage.objects import AtomicFile, Limited, open_object
from shuf_big.storage.urls import StorageOptions, is_url

_COPY_CHUNK = 1 << 22
# A map task reads and scatters its block at most this many bytes at a time (less only
# where its budget's read buffer is smaller):
# larger chunks leave the scattered bytes out of the CPU's cache before they are written
# (measured on 500 MB of sentences: the map stage's kernel time 0.22-0.25 s at 4 MiB,
# 0.39-0.94 s at 32 MiB), and this many records at most (per-record arrays of 2 MiB stay
# on the heap, below the allocator's mmap threshold, instead of being mapped afresh).
MAP_CHUNK = 4 << 20
MAP_RECORDS = 1 << 18
# Index rows (64 bytes each, one per batch and bucket) past which spills are gathered in
# runs even on a local disk: the driver holds every row.
MAX_BATCH_ROWS = 1 << 20


def gathers_runs(run: str, nbytes: int, buckets: int) -> bool:
    """Whether map tasks gather runs: on object storage, where each range read is a
    request, and wherever writing batch by batch would make the index too large."""
    return is_url(run) or -(-nbytes // MAP_CHUNK) * buckets > MAX_BATCH_ROWS


@dataclass(frozen=True)
class Block:
    """A nominal byte range ``[lo, hi)`` of one input (``hi = -1``: the whole input)."""

    url: str
    what: str  # the input's name in messages
    lo: int
    hi: int
    size: int  # the input's size in bytes (compressed size for compressed inputs)
    compression: str | None
    skip: int  # header records to drop at the start of a whole-input block
    storage: StorageOptions = field(default_factory=StorageOptions)  # the run's, for the input's filesystem
    origin: str = ""  # its --files-from LIST:LINE, said before a message about it


@dataclass(frozen=True)
class Extent:
    """A block's exact extent: records ending in ``(start, end]`` (whole input: -1, -1)."""

    block: Block
    start: int
    end: int
    records: int
    head: bytes = b""  # the header records a whole-input block skipped (checked by the driver)


Task = TypeVar("Task", bound=Callable[..., Any])


def listed(block_of: Callable[[Any], Block]) -> Callable[[Task], Task]:
    """A task whose read errors about its block (``block_of`` its first argument) start
    with the block's ``--files-from`` line, as the local engine's do (a record too large
    names its input and line already)."""

    def wrap(task: Task) -> Task:
        @functools.wraps(task)
        def run(*args: Any, **kwargs: Any) -> Any:
            block = block_of(args[0])
            try:
                return task(*args, **kwargs)
            except RecordTooLarge:
                raise
            except ShufBigError as err:
                if not block.origin:
                    raise
                raise ShufBigError(f"{block.origin}: {err}") from None

        return cast(Task, run)

    return wrap


def overlaps_itself(sep: bytes) -> bool:
    """Whether two occurrences of ``sep`` can overlap (a proper prefix is also a suffix).

    Only then can a search for separators started mid-file disagree with one started at
    the beginning, so only then must such a file be read as one block.
    """
    return any(sep[:k] == sep[-k:] for k in range(1, len(sep)))


def whole_input(block: Block) -> tuple[Reader, io.BufferedIOBase]:
    """A whole-input block's reader (decompressed, header records dropped) and its handle."""
    handle = open_object(block.url, block.what, block.storage)
    raw: Reader
    if block.compression:
        raw = Decompressed(cast(BinaryIO, handle), block.compression, block.what)
    else:
        raw = FileObject(cast(BinaryIO, handle), block.what)
    return raw, handle


def _skip_header(raw: Reader, sep: bytes, block: Block) -> tuple[Reader, bytes]:
    """The reader after a whole-input block's header records, and those records."""
    if not block.skip:
        return raw, b""
    head, rest, _ = split_header(lambda view: read_fully(raw, view, block.what), sep, block.skip)
    return PrefixedReader(np.frombuffer(rest, dtype=np.uint8), raw), head


def _first_end(handle: io.BufferedIOBase, at: int, size: int, sep: bytes) -> int:
    """The smallest record end at or after byte ``at`` (``size`` if none).

    The search starts ``len(sep)`` bytes early, which finds every separator that ends at
    ``at`` or later; for a separator that cannot overlap itself every occurrence found
    is one a search from the start would find.  It reads 64 KiB at a time: the record
    that straddles ``at`` is usually short.
    """
    if at >= size:
        return size
    pos = max(at - len(sep), 0)
    handle.seek(pos)
    framer = core.StreamFramer(sep)
    buffer = np.empty(1 << 16, dtype=np.uint8)
    while got := handle.readinto(memoryview(buffer)) or 0:
        ends = framer.feed(buffer[:got]) + pos
        k = int(np.searchsorted(ends, at))
        if k < len(ends):
            return int(ends[k])
        pos += got
    return size


def cut(block: Block, chunk: int) -> list[Block]:
    """A plain input's block cut every ``chunk`` bytes (whole-input blocks stay whole)."""
    if block.hi < 0:
        return [block]
    return [
        replace(block, lo=lo, hi=min(lo + chunk, block.hi))
        for lo in range(block.lo, max(block.hi, block.lo + 1), chunk)
    ]


def _count(framer: core.StreamFramer, chunk: np.ndarray) -> int:
    """Records ending in ``chunk``, the next piece of a stream: one-byte separators are
    only counted (no offsets made), others framed."""
    token = framer.token
    if len(token) != 1 or not len(chunk):
        return len(framer.feed(chunk))
    framer.open = bool(chunk[-1] != token[0])
    return core.count_records(chunk, token)


def _count_range(
    handle: io.BufferedIOBase, start: int, end: int, framer: core.StreamFramer, buffer: np.ndarray, what: str
) -> int:
    """Records ending in bytes ``(start, end]`` of ``handle``, read ``buffer`` at a time."""
    handle.seek(start)
    records = 0
    view = memoryview(buffer)
    while start < end:
        got = handle.readinto(view[: min(len(buffer), end - start)]) or 0
        if not got:
            raise ShufBigError(f"{what} shrank while being read")
        records += _count(framer, buffer[:got])
        start += got
    return records


@listed(lambda block: block)
def count_block(block: Block, sep: bytes, chunk: int) -> Extent:
    """Stage 1: the block's exact bounds and record count (reads it once, ``chunk`` at a
    time): its records end in ``(start, end]``, where ``start`` and ``end`` are the first
    record ends at or after its nominal bounds (so blocks meet exactly)."""
    buffer = np.empty(chunk, dtype=np.uint8)
    framer = core.StreamFramer(sep)
    records = 0
    if block.hi < 0:
        raw, handle = whole_input(block)
        with handle:
            raw, head = _skip_header(raw, sep, block)
            while got := read_fully(raw, memoryview(buffer), block.what):
                records += _count(framer, buffer[:got])
        return Extent(block, -1, -1, records + bool(framer.terminator()), head)
    with open_object(block.url, block.what, block.storage) as handle:
        start = block.lo if block.lo == 0 else _first_end(handle, block.lo, block.size, sep)
        end = _first_end(handle, block.hi, block.size, sep) if block.hi < block.size else block.size
        if start >= end:
            return Extent(block, start, start, 0)
        records = _count_range(handle, start, end, framer, buffer, block.what)
        return Extent(block, start, end, records + bool(framer.terminator()))


@dataclass(frozen=True)
class Settings:
    """What every task needs to know about the run."""

    sep: bytes
    spec: core.KeySpec
    mem: int  # each task's budget
    run: str  # URL of this run's temp directory
    fanout_bits: int = 0
    threads: int = 1  # tasks sharing one worker's --mem (mem is each one's share)
    storage: StorageOptions = field(default_factory=StorageOptions)  # the run's storage options
    packed: bool = False  # spill files compressed (--compress-temp)
    runs: bool = False  # spills gathered in runs of a quarter of the budget, else written batch by batch


@functools.cache
def task_plan(mem: int) -> Plan:
    """The plan of a task's budget, with this worker's C allocator tuned for it: Dask's
    nanny sets ``MALLOC_TRIM_THRESHOLD_``, which pins glibc's mmap threshold at 128 KiB,
    so every numpy temporary past it would be a fresh mmap faulted in page by page
    (measured: the map and reduce stages spent half their time in the kernel)."""
    tune_for_budget(mem)
    return Plan.for_budget(mem)


@listed(lambda extent: extent.block)
def map_block(
    extent: Extent, first_index: int, number: int, settings: Settings, records_before: int = 0
) -> tuple[str, np.ndarray]:
    """Stage 2: scatter a block's records to buckets in one spill file; returns (URL, index rows).

    ``records_before``: records of the whole stream before the block's input, less its
    header records (so that a message can give a record's line in its input)."""
    plan = task_plan(settings.mem)
    block = extent.block
    counter = Counter()
    counter.next = first_index
    url = f"{settings.run}/spill-{number:06d}"
    spill = AtomicFile(url, settings.storage)
    writer = SpillWriter(spill, 1 << settings.fanout_bits, settings.packed, plan.mem // 4 if settings.runs else 0)
    chunk = min(MAP_CHUNK, plan.read_buffer)
    out = np.empty(chunk, dtype=np.uint8)
    raw: RawReader
    if block.hi < 0:
        raw, handle = whole_input(block)
        raw, _ = _skip_header(raw, settings.sep, block)
    else:
        handle = open_object(block.url, block.what, block.storage)
        handle.seek(extent.start)
        raw = Limited(handle, extent.end - extent.start, block.what)
    try:
        with handle:
            reader = RecordReader(
                raw, settings.sep, chunk, min(plan.max_records, MAP_RECORDS), counter.take, block.what
            )
            for item in reader:
                if isinstance(item, LongRecord):
                    data = np.frombuffer(b"".join(bytes(p) for p in parts_within(item, plan.mem)), dtype=np.uint8)
                    ends = np.array([len(data)], dtype=np.int64)
                    indices = np.array([item.index], dtype=np.int64)
                    target = np.empty(len(data), dtype=np.uint8)
                else:
                    data, ends, indices, target = item.data, item.ends, item.indices, out
                s = core.scatter(data, ends, indices, settings.spec, 0, settings.fanout_bits, target, plan.piece)
                writer.add(s)
            rows = writer.index()
        if counter.next - first_index != extent.records:
            raise ShufBigError(f"{block.what} changed while being read")
        spill.commit()
    except RecordTooLarge as err:
        spill.discard()
        raise _too_large(err, block.what, err.index - records_before + 1, settings) from None
    except BaseException:
        spill.discard()
        raise
    return url, rows


def _too_large(err: RecordTooLarge, what: str, number: int, settings: Settings) -> RecordTooLarge:
    """The local engine's message for a record over a task's budget, with the ``--mem``
    (per worker, shared by its ``threads``) that takes it."""
    unit = "line" if settings.sep == b"\n" else "record"
    plan = Plan.for_budget(settings.mem)
    return RecordTooLarge(
        plan.too_large(err.size, f"{unit} {number} of {what}", share=settings.threads), err.index, err.size
    )


def copy_pieces(pieces: Iterable[str], write: Callable[[list[memoryview]], object], options: StorageOptions) -> None:
    buffer = np.empty(_COPY_CHUNK, dtype=np.uint8)
    for url in pieces:
        with open_object(url, f"'{url}'", options) as handle:
            while got := read_fully(handle, memoryview(buffer), f"'{url}'"):
                write([memoryview(buffer)[:got]])


def header_bytes(header: bytes, compress: Codec | None, empty: bool) -> bytes:
    """The header as written on top of an output (its own compressed stream if compressed)."""
    if compress is None:
        return header
    if not header and not empty:
        return b""
    encoder = compress.encoder()
    return encoder.compress(memoryview(header)) + encoder.flush()


def concat_output(url: str, header: bytes, pieces: list[str], compress: Codec | None, options: StorageOptions) -> str:
    """Stage 4: write ``header`` and ``pieces`` to a temporary file beside ``url``; returns
    its path (renamed into place by the driver once every output is complete)."""
    out = AtomicFile(url, options)
    try:
        out.write([memoryview(header_bytes(header, compress, not pieces))])
        copy_pieces(pieces, out.write, options)
        out.finish()
    except BaseException:
        out.discard()
        raise
    return out.temp
