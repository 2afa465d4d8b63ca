"""Pass 2: order a group of records by key, a cache-sized sub-bucket at a time.

A group is one or more whole buckets loaded together.  Sorting millions of keys at once
is bound by cache misses, so the group is cut by the keys' leading bits into sub-buckets
of about :data:`SUB_BUCKET_RECORDS` records; those are ordered like their keys, so
writing them one after the other writes the whole group in key order.
"""

from __future__ import annotations

import numpy as np

from .gather import ordered_parts
from .keys import KEY_SLICE, KeySpec, draw_keys
from .scatter import partition

# Sub-buckets of a group are sorted one at a time; this many records fit the CPU cache.
SUB_BUCKET_RECORDS = 32768


def sub_bucket_ids(keys: np.ndarray, nbytes: int, target_records: int, target_bytes: int) -> tuple[np.ndarray, int]:
    """Split a group of keys into cache-sized sub-buckets by their leading bits.

    Returns uint16 ids (ordered like the keys) and the sub-bucket count.  Sorting a whole
    multi-million-record group at once is bound by cache misses; sorting ~32 K records at
    a time is not.
    """
    n = len(keys)
    want = max(n // max(target_records, 1), nbytes // max(target_bytes, 1), 1)
    if want <= 1 or n < 2:
        return np.zeros(n, dtype=np.uint16), 1
    lo = int(keys.min())
    span = int(keys.max()) - lo
    bits = min(want.bit_length(), 16)
    shift = np.uint64(max(span.bit_length() - bits, 0))
    ids = np.empty(n, dtype=np.uint16)
    scratch = np.empty(min(n, KEY_SLICE), dtype=np.uint64)
    for at in range(0, n, KEY_SLICE):  # in cache-sized slices: no group-sized temporaries
        part = scratch[: min(KEY_SLICE, n - at)]
        np.subtract(keys[at : at + len(part)], np.uint64(lo), out=part)
        part >>= shift
        ids[at : at + len(part)] = part
    return ids, (span >> int(shift)) + 1


_LOCAL = np.arange(1 << 16, dtype=np.uint64)


def key_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys)`` for up to 65536 distinct keys, about twice as fast.

    Each key's offset from the smallest, cut to 48 bits, is packed above its 16-bit
    position and the packed values are sorted (numpy's value sort is vectorised, its
    argsort is not).  Keys of a sub-bucket share their leading bits, so the cut rarely
    drops a bit; when two keys then tie, the plain argsort decides, so the order is
    always exactly the keys' order.
    """
    n = len(keys)
    if n > len(_LOCAL) or n < 2:
        return np.argsort(keys)
    low = keys.min()
    drop = max(int(keys.max() - low).bit_length() - 48, 0)
    packed: np.ndarray = keys - low
    if drop:
        packed >>= np.uint64(drop)
    packed <<= np.uint64(16)
    packed |= _LOCAL[:n]
    packed.sort()
    if drop and np.any((packed[1:] >> np.uint64(16)) == (packed[:-1] >> np.uint64(16))):
        return np.argsort(keys)
    packed &= np.uint64(0xFFFF)
    return packed.astype(np.intp)


class GroupOrder:
    """A group of records ordered by key, cut into sub-buckets that can be built apart.

    ``bounds`` has ``n + 1`` entries: record ``k`` is ``data[bounds[k]:bounds[k + 1]]``.
    Sub-bucket ``b`` holds the keys of one leading-bit range, so writing ``parts(0)``,
    ``parts(1)``, ... in turn writes the whole group in key order, while the parts
    themselves may be built by several threads at once (numpy releases the GIL).
    """

    def __init__(self, data: np.ndarray, bounds: np.ndarray, keys: np.ndarray, piece: int) -> None:
        self.data = data
        self.bounds = bounds
        self.keys = keys
        self.piece = piece
        ids, self.count = sub_bucket_ids(keys, int(bounds[-1]), SUB_BUCKET_RECORDS, 2 * piece)
        self.order, self.sub_bounds = partition(ids, self.count)

    def records(self, b: int) -> int:
        """How many records sub-bucket ``b`` holds (a sharded output cuts by these counts)."""
        return int(self.sub_bounds[b + 1] - self.sub_bounds[b])

    def parts(self, b: int) -> list[memoryview]:
        """Sub-bucket ``b`` in key order, as :func:`ordered_parts` (long records not copied)."""
        recs = self.order[self.sub_bounds[b] : self.sub_bounds[b + 1]]
        if len(recs) == 0:
            return []
        recs = recs[key_order(self.keys[recs])]
        starts = self.bounds[recs]
        return ordered_parts(self.data, starts, self.bounds[recs + 1] - starts, self.piece)


def order_group(data: np.ndarray, bounds: np.ndarray, indices: np.ndarray, spec: KeySpec, piece: int) -> GroupOrder:
    """Order a group of records with these global indices (see :class:`GroupOrder`)."""
    return GroupOrder(data, bounds, draw_keys(spec, indices), piece)
