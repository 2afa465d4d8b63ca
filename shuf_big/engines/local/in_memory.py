"""Shuffles without temp files: input that fits the budget, and ``-n`` in one streaming pass."""

from __future__ import annotations

import numpy as np

from shuf_big import core
from shuf_big.budget.plan import KEY_RANGE
from shuf_big.engines.local.workers import Context
from shuf_big.errors import ShufBigError
from shuf_big.files.outputs import Sink
from shuf_big.files.protocol import Reader
from shuf_big.files.records import Counter, LongRecord, RecordReader, parts_within
from shuf_big.system.progress import input_name, position

# The input in memory is partitioned by sub-bucket (GroupOrder) only for records shorter
# than this on average: the partition's second copy of the bytes is fresh memory (on a VM
# ~1-5 ns a byte to fault in), and only for short records do the cache misses it saves weigh
# more (400 MB of 14-byte lines: CPU 12.2 -> 7.4 s; of 51-byte ones: equal, +54 % RSS).
PARTITION_MAX_AVERAGE = 32
# -n reads in batches of at most this many bytes and records (the output does not depend on it).
HEAD_READ_BUFFER = 4 << 20
HEAD_BATCH_RECORDS = 1 << 16


def count(ctx: Context, data: np.ndarray) -> list[int]:
    """The record count of each of the workers' byte ranges of ``data``."""
    return ctx.workers.map(
        lambda r: core.count_records(data[r[0] : r[1]], ctx.sep), ctx.workers.ranges(len(data), ctx.sep)
    )


def shuffle(ctx: Context, data: np.ndarray, counts: list[int], out: Sink) -> None:
    """Order the records of ``data`` (``counts`` per worker range) by key and write them.

    Framing and key drawing run on all workers, each into its own slice of the offsets
    and keys.
    """
    nrecords = sum(counts)
    bounds = np.empty(nrecords + 1, dtype=np.int64)
    bounds[0] = 0
    firsts = np.cumsum([0, *counts]).tolist()
    window = max(ctx.plan.piece, 1 << 16)

    def frame(r: tuple[int, int], first: int, count: int) -> None:
        ends = bounds[1 + first : 1 + first + count]
        if core.ends_into(ends, data[r[0] : r[1]], ctx.sep, window, r[0]) != count:
            raise ShufBigError("the input changed while being read")

    ctx.workers.map(frame, ctx.workers.ranges(len(data), ctx.sep), firsts[:-1], counts)
    keys = np.empty(nrecords, dtype=np.uint64)

    def draw(lo: int) -> None:
        hi = min(lo + KEY_RANGE, nrecords)
        keys[lo:hi] = core.draw_keys(ctx.spec, np.arange(lo, hi, dtype=np.int64))

    ctx.workers.map(draw, range(0, nrecords, KEY_RANGE))
    partitioned = len(data) < PARTITION_MAX_AVERAGE * nrecords and ctx.plan.partitioned(len(data), nrecords)
    group = core.GroupOrder(data, bounds, keys, ctx.plan.piece, partitioned)
    out.expect(len(group.keys), len(data))
    with ctx.bar("shuffling", writes=len(data)) as bar:
        ctx.workers.emit(group, out, bar)


def load_long(ctx: Context, record: LongRecord) -> np.ndarray:
    """A record too long for the read buffer, in memory (it must fit the budget)."""
    return np.frombuffer(b"".join(bytes(part) for part in parts_within(record, ctx.plan.mem)), dtype=np.uint8)


def head(ctx: Context, raw: Reader, what: str, out: Sink, count: int) -> tuple[int, int]:
    """``-n COUNT`` in one streaming pass keeping the COUNT smallest keys: no temp files.

    Returns the records and bytes read."""
    plan = ctx.plan
    selection = core.SmallestKeys(count, plan.piece)
    counter = Counter()
    # Batches far smaller than the budget's: the kept records, not the read buffer, are what -n holds.
    reader = RecordReader(
        raw,
        ctx.sep,
        min(plan.read_buffer, HEAD_READ_BUFFER),
        min(plan.max_records, HEAD_BATCH_RECORDS),
        counter.take,
        what,
    )
    with ctx.bar("sampling") as bar:
        for item in reader:
            if isinstance(item, LongRecord):
                record = load_long(ctx, item)
                ends = np.array([len(record)], dtype=np.int64)
                selection.offer(record, ends, core.draw_keys(ctx.spec, np.array([item.index])))
            else:
                selection.offer(item.data, item.ends, core.draw_keys(ctx.spec, item.indices))
            if plan.order_need(selection.nbytes, selection.count, partitioned=False) > plan.order_budget:
                raise plan.head_too_large(count)
            bar.describe(input_name(raw))
            bar.advance_to(position(raw, reader.bytes_read))
    nbytes = reader.bytes_read
    del reader
    result = selection.result()
    out.expect(len(result.keys))
    with ctx.bar("writing", writes=0) as bar:
        ctx.workers.emit(result, out, bar)
    return counter.next, nbytes
