"""Pass 2: order a group of records by key, a cache-sized sub-bucket at a time.

A group is one or more whole buckets loaded together.  Sorting millions of keys at once
is bound by cache misses, so the group is cut by the keys' leading bits into sub-buckets
of about :data:`SUB_BUCKET_RECORDS` records; those are ordered like their keys, so
writing them one after the other writes the whole group in key order.

Short records are first moved so that each sub-bucket's bytes, keys and lengths lie
together (:meth:`GroupOrder.prepare`): a block of records at a time, read in the cache
and written to one sequential run per sub-bucket.  Ordering a sub-bucket then touches
only its own few hundred KB, where a random gather from the whole group would miss the
cache on every record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import DTypeLike

from .gather import SLICE_COPY_MIN_AVERAGE, copy_exactly, copy_windows, ordered_parts, window_width
from .keys import KEY_SLICE, KeySpec, draw_keys
from .scatter import group_by_bucket

# Sub-buckets of a group are sorted one at a time; this many records fit the CPU cache.
SUB_BUCKET_RECORDS = 32768
# Records moved at a time when a group is partitioned by sub-bucket (their bytes fit the cache).
BLOCK_RECORDS = 1 << 15

# Makes a group's large arrays: ``empty(count, dtype)`` (``np.empty``, or views of a reused buffer).
Empty = Callable[[int, DTypeLike], np.ndarray]


def worth_partitioning(nbytes: int, nrecords: int) -> bool:
    """Whether records this short on average are worth partitioning before ordering
    (:meth:`GroupOrder.prepare`); long ones are written straight from where they lie."""
    return nrecords > 1 and nbytes < SLICE_COPY_MIN_AVERAGE * nrecords


def group_arrays(nbytes: int, nrecords: int, partitioned: bool) -> int:
    """About the bytes of the arrays a group makes through ``empty`` (see :class:`GroupOrder`):
    its bytes, offsets, keys and sub-bucket ids, and when partitioned the moved bytes
    (with some spare), keys and lengths.  Temporaries are not counted."""
    size = nbytes + 18 * nrecords + 1024
    if partitioned:
        size += nbytes + 12 * nrecords + (1 << 16)
    return size


def _geometry(keys: np.ndarray, nbytes: int, target_records: int, target_bytes: int) -> tuple[int, int, int]:
    """``(lo, shift, count)``: sub-bucket ``b`` holds the keys ``k`` with ``(k - lo) >> shift == b``."""
    n = len(keys)
    if n == 0:
        return 0, 0, 1
    lo = int(keys.min())
    span = int(keys.max()) - lo
    want = max(n // max(target_records, 1), nbytes // max(target_bytes, 1), 1)
    if want <= 1 or n < 2:
        return lo, span.bit_length(), 1
    bits = min(want.bit_length(), 16)
    shift = max(span.bit_length() - bits, 0)
    return lo, shift, (span >> shift) + 1


def _ids(keys: np.ndarray, lo: int, shift: int, empty: Empty = np.empty) -> np.ndarray:
    """The uint16 sub-bucket id of every key, computed in cache-sized slices."""
    n = len(keys)
    ids = empty(n, np.uint16)
    if shift >= 64:
        ids[:] = 0
        return ids
    scratch = np.empty(min(n, KEY_SLICE), dtype=np.uint64)
    for at in range(0, n, KEY_SLICE):  # in cache-sized slices: no group-sized temporaries
        part = scratch[: min(KEY_SLICE, n - at)]
        np.subtract(keys[at : at + len(part)], np.uint64(lo), out=part)
        part >>= np.uint64(shift)
        ids[at : at + len(part)] = part
    return ids


def sub_bucket_ids(keys: np.ndarray, nbytes: int, target_records: int, target_bytes: int) -> tuple[np.ndarray, int]:
    """Split a group of keys into cache-sized sub-buckets by their leading bits.

    Returns uint16 ids (ordered like the keys) and the sub-bucket count.  Sorting a whole
    multi-million-record group at once is bound by cache misses; sorting ~32 K records at
    a time is not.
    """
    lo, shift, count = _geometry(keys, nbytes, target_records, target_bytes)
    return _ids(keys, lo, shift), count


def radix_order(keys: np.ndarray, lo: int, bits: int) -> np.ndarray:
    """``np.argsort(keys)`` for distinct keys in ``[lo, lo + 2**bits)``, by radix passes.

    The keys' top 32 bits below ``bits`` are ordered by two stable 16-bit passes (numpy's
    stable argsort of uint16 is a counting sort: a few ns a key, where a comparison sort
    of uint64 takes ~30).  Two keys that share those 32 bits (rare: about n**2 / 2**33
    pairs) are then put in order by their full value.
    """
    n = len(keys)
    if n < 2:
        return np.zeros(n, dtype=np.intp)
    v = keys - np.uint64(lo)
    drop = max(bits - 32, 0)
    if drop:
        v >>= np.uint64(drop)
    top = v.astype(np.uint32)
    order = np.argsort(top.astype(np.uint16), kind="stable")
    if bits - drop > 16:
        high = (top >> np.uint32(16)).astype(np.uint16)
        order = order[np.argsort(high[order], kind="stable")]
    if drop:
        ranked = top[order]
        ties = np.flatnonzero(ranked[1:] == ranked[:-1])
        if len(ties):
            order = _break_ties(keys, order, ties)
    return order


def _break_ties(keys: np.ndarray, order: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Put neighbours ``order[t]``, ``order[t + 1]`` (equal in their top bits) in key order."""
    if len(ties) > 1 and bool(np.any(np.diff(ties) == 1)):  # three or more alike: sort them all
        return np.argsort(keys, kind="stable")
    first, second = order[ties], order[ties + 1]
    swap = keys[first] > keys[second]
    order[ties[swap]] = second[swap]
    order[ties[swap] + 1] = first[swap]
    return order


class GroupOrder:
    """A group of records ordered by key, cut into sub-buckets that can be built apart.

    ``bounds`` has ``n + 1`` entries: record ``k`` is ``data[bounds[k]:bounds[k + 1]]``.
    Sub-bucket ``b`` holds the keys of one leading-bit range, so writing ``parts(0)``,
    ``parts(1)``, ... in turn writes the whole group in key order, while the parts
    themselves may be built by several threads at once (numpy releases the GIL).

    With ``partitioned`` (for short records, when memory allows a second copy of the
    bytes), :meth:`prepare` first moves each sub-bucket's records together; it may run
    its blocks on several threads, and runs by itself on the first :meth:`parts`.
    ``empty`` makes the group-sized arrays (the caller may reuse memory group after group).
    """

    def __init__(
        self,
        data: np.ndarray,
        bounds: np.ndarray,
        keys: np.ndarray,
        piece: int,
        partitioned: bool = False,
        empty: Empty = np.empty,
    ):
        self.data = data
        self.bounds = bounds
        self.keys = keys
        self.piece = piece
        n = len(keys)
        self.lo, self.shift, self.count = _geometry(keys, int(bounds[-1]), SUB_BUCKET_RECORDS, 2 * piece)
        ids = _ids(keys, self.lo, self.shift, empty)
        self.partitioned = partitioned and n > 1
        if self.partitioned:
            self._layout = _Layout(ids, bounds, self.count, piece, empty)
        else:
            self.order, self.sub_bounds = group_by_bucket(ids, self.count)

    def prepare(self, run: Callable[..., Iterable[object]] = map, tasks: int = 1) -> None:
        """Partition the records by sub-bucket (if asked to) in ``tasks`` runs of blocks;
        ``run(fn, items)`` maps over them (on worker threads, or the builtin ``map``)."""
        layout = getattr(self, "_layout", None)
        if layout is None:
            return
        runs = layout.runs(tasks)
        for _ in run(layout.measure, runs):
            pass
        layout.plan(len(self.data))
        data, keys = self.data, self.keys
        for _ in run(lambda r: layout.move(r, data, keys), runs):
            pass
        self.sub_bounds = layout.sub_bounds
        del self._layout, self.data, self.bounds, self.keys  # the moved copy replaces them
        self.moved = layout

    def records(self, b: int) -> int:
        """How many records sub-bucket ``b`` holds (a sharded output cuts by these counts)."""
        self.prepare()  # a partitioned group knows its sub-buckets once partitioned
        return int(self.sub_bounds[b + 1] - self.sub_bounds[b])

    def parts(self, b: int) -> list[memoryview]:
        """Sub-bucket ``b`` in key order: one new buffer, or views of long records."""
        if self.partitioned:
            self.prepare()
            return self.moved.ordered(b, self.lo + (b << self.shift), self.shift)
        recs = self.order[self.sub_bounds[b] : self.sub_bounds[b + 1]]
        if len(recs) == 0:
            return []
        recs = recs[radix_order(self.keys[recs], self.lo + (b << self.shift), self.shift)]
        starts = self.bounds[recs]
        return ordered_parts(self.data, starts, self.bounds[recs + 1] - starts, self.piece)


class _Layout:
    """Where every record of a partitioned group goes: sub-bucket by sub-bucket, and in
    each, block by block in input order.

    Sub-bucket ``b``'s bytes start at ``byte_bounds[b]``, with ``width`` spare bytes
    after each sub-bucket, so that a fixed-width window copy never spills into the next
    one.  Blocks of one run move in order (a window's spill is overwritten by a later
    record of the same run); records whose window would reach the shares of the next
    run are copied exactly, so runs may move at once.
    """

    def __init__(self, ids: np.ndarray, bounds: np.ndarray, count: int, piece: int, empty: Empty) -> None:
        self.ids = ids
        self.piece = piece
        self.empty = empty
        self.bounds = bounds
        self.count = count
        self.n = len(ids)
        self.blocks = -(-self.n // BLOCK_RECORDS)
        self.counts = np.zeros((self.blocks, count), dtype=np.int64)  # records of block j in sub-bucket b
        self.sizes = np.zeros((self.blocks, count), dtype=np.int64)  # their bytes
        self.longest = np.zeros(self.blocks, dtype=np.int64)

    def runs(self, tasks: int) -> list[range]:
        """The blocks cut into ``tasks`` consecutive runs."""
        tasks = max(min(tasks, self.blocks), 1)
        cuts = [self.blocks * t // tasks for t in range(tasks + 1)]
        return [range(cuts[t], cuts[t + 1]) for t in range(tasks)]

    def _block(self, j: int) -> tuple[int, int, np.ndarray]:
        lo = j * BLOCK_RECORDS
        hi = min(lo + BLOCK_RECORDS, self.n)
        return lo, hi, self.ids[lo:hi]

    def measure(self, blocks: range) -> None:
        """Count each block's records and bytes per sub-bucket."""
        for j in blocks:
            lo, hi, ids = self._block(j)
            lens = np.diff(self.bounds[lo : hi + 1])
            self.counts[j] = np.bincount(ids, minlength=self.count)
            self.sizes[j] = np.bincount(ids, weights=lens, minlength=self.count)  # exact: sums < 2**53
            self.longest[j] = lens.max()

    def plan(self, nbytes: int) -> None:
        """Sub-bucket bounds, each block's first slot in each, and the moved arrays."""
        self.width = window_width(int(self.longest.max()), nbytes, self.n)
        self.sub_bounds = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.counts.sum(axis=0), out=self.sub_bounds[1:])
        self.byte_bounds = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.sizes.sum(axis=0) + self.width, out=self.byte_bounds[1:])
        # block j's first slot and byte in sub-bucket b, less where its share of b starts
        # among its own records sorted by sub-bucket
        before = np.cumsum(self.counts, axis=0) - self.counts + self.sub_bounds[:-1]
        self.record_shift = before - (np.cumsum(self.counts, axis=1) - self.counts)
        before_bytes = np.cumsum(self.sizes, axis=0) - self.sizes + self.byte_bounds[:-1]
        self.byte_shift = before_bytes - (np.cumsum(self.sizes, axis=1) - self.sizes)
        self.share_start = before_bytes
        self.share_end = before_bytes + self.sizes
        self.data = self.empty(int(self.byte_bounds[-1]), np.uint8)
        self.keys = self.empty(self.n, np.uint64)
        self.lens = self.empty(self.n, np.int32 if nbytes < 1 << 31 else np.int64)

    def move(self, blocks: range, data: np.ndarray, keys: np.ndarray) -> None:
        """Move these blocks' records, keys and lengths to their sub-buckets' runs."""
        # where the next runs' records start, in each sub-bucket: no window may reach them
        # (sub-buckets they have no record of end in spare bytes)
        limit = None
        if blocks.stop < self.blocks:
            later = self.counts[blocks.stop :].sum(axis=0) > 0
            limit = np.where(later, self.share_start[blocks.stop], self.byte_bounds[1:])
        for j in blocks:
            near = limit is not None and bool(np.any(self.share_end[j] > limit - self.width))
            self._move(j, data, keys, limit if near else None)

    def _move(self, j: int, data: np.ndarray, keys: np.ndarray, limit: np.ndarray | None) -> None:
        lo, hi, ids = self._block(j)
        by_sub = np.argsort(ids, kind="stable")
        sub = ids[by_sub]
        starts = self.bounds[lo:hi][by_sub]
        lens = self.bounds[lo + 1 : hi + 1][by_sub] - starts
        slots = np.arange(hi - lo, dtype=np.int64)
        slots += self.record_shift[j][sub]
        self.keys[slots] = keys[lo:hi][by_sub]
        self.lens[slots] = lens
        dst = np.cumsum(lens)
        dst -= lens
        dst += self.byte_shift[j][sub]
        width = self.width
        if limit is None and self.longest[j] <= width and int(self.bounds[hi - 1]) <= len(data) - width:
            copy_windows(self.data, data, starts, dst, width, self.piece)
            return
        fits = (lens <= width) & (starts <= len(data) - width)
        if limit is not None:  # the next run may move first
            fits &= dst <= limit[sub] - width
        picked = np.flatnonzero(fits)
        copy_windows(self.data, data, starts[picked], dst[picked], width, self.piece)
        rest = np.flatnonzero(~fits)
        copy_exactly(self.data, data, starts[rest], lens[rest], dst[rest])

    def ordered(self, b: int, lo: int, bits: int) -> list[memoryview]:
        """Sub-bucket ``b`` (keys in ``[lo, lo + 2**bits)``) in key order, in one new buffer."""
        first, last = int(self.sub_bounds[b]), int(self.sub_bounds[b + 1])
        if first == last:
            return []
        order = radix_order(self.keys[first:last], lo, bits)
        lens = self.lens[first:last].astype(np.int64)
        starts = np.cumsum(lens)
        starts -= lens
        starts += self.byte_bounds[b]
        lens = lens[order]
        starts = starts[order]
        size = int(self.byte_bounds[b + 1] - self.byte_bounds[b]) - self.width
        out = np.empty(size + self.width, dtype=np.uint8)
        dst = np.cumsum(lens)
        dst -= lens
        if int(self.longest.max()) <= self.width:
            copy_windows(out, self.data, starts, dst, self.width, self.piece)
        else:
            fits = lens <= self.width
            picked = np.flatnonzero(fits)
            copy_windows(out, self.data, starts[picked], dst[picked], self.width, self.piece)
            rest = np.flatnonzero(~fits)
            copy_exactly(out, self.data, starts[rest], lens[rest], dst[rest])
        return [out.data[:size]]


def order_group(
    data: np.ndarray, bounds: np.ndarray, indices: np.ndarray, spec: KeySpec, piece: int, partitioned: bool = False
) -> GroupOrder:
    """Order a group of records with these global indices (see :class:`GroupOrder`)."""
    return GroupOrder(data, bounds, draw_keys(spec, indices), piece, partitioned)
