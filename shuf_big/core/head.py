"""The first ``k`` records of a shuffle without doing the whole shuffle (``-n``).

The output is "records sorted by key", so its first ``k`` lines are the ``k`` records
with the smallest keys.  :class:`SmallestKeys` finds them in one streaming pass over the
records; for ``-i LO-HI`` the records are just the indices, and the smallest keys can be
found by walking keys upward through the inverse key function instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .gather import gather_into
from .keys import MASK64
from .order import GroupOrder


class SmallestKeys:
    """The ``k`` records with the smallest keys seen so far, for ``-n``/``--head-count``.

    Since the output is "records sorted by key", these are exactly the first ``k`` lines
    of the full shuffle with the same seed, found in one streaming pass with memory for
    about ``2 k`` records.  Candidates are appended until there are ``2 k``, then cut back
    to ``k`` (amortised linear time); a record whose key is not below the ``k``-th
    smallest key at the last cut can never make it and is skipped at once.
    """

    def __init__(self, k: int, piece: int) -> None:
        self.k = k
        self.piece = piece
        self.chunks: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.count = 0
        self.nbytes = 0
        self.limit: int | None = None  # keys >= limit are out

    def offer(self, data: np.ndarray, ends: np.ndarray, keys: np.ndarray) -> None:
        """Consider a batch of records (``ends`` as from :func:`find_ends`)."""
        starts = np.empty(len(ends), dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1]
        picked = np.flatnonzero(keys < np.uint64(self.limit)) if self.limit is not None else np.arange(len(ends))
        if len(picked) == 0:
            return
        if len(picked) > self.k:  # no more than k of one batch can be kept
            picked = picked[np.sort(np.argpartition(keys[picked], self.k - 1)[: self.k])]
        lengths = (ends - starts)[picked]
        chunk = np.empty(int(lengths.sum()), dtype=np.uint8)
        gather_into(chunk, data, starts[picked], lengths, self.piece)
        self.chunks.append(chunk)
        self.lengths.append(lengths)
        self.keys.append(keys[picked])
        self.count += len(picked)
        self.nbytes += len(chunk)
        if self.count >= 2 * self.k:
            self._cut()

    def _cut(self) -> None:
        """Keep the ``k`` smallest keys' records (in arrival order) and bar keys above them."""
        if not self.chunks:
            return
        data = np.concatenate(self.chunks)
        lengths = np.concatenate(self.lengths)
        keys = np.concatenate(self.keys)
        if len(keys) > self.k:
            keep = np.sort(np.argpartition(keys, self.k - 1)[: self.k])
            self.limit = int(keys[keep].max())
            starts = np.cumsum(lengths) - lengths
            lengths, keys = lengths[keep], keys[keep]
            kept = np.empty(int(lengths.sum()), dtype=np.uint8)
            gather_into(kept, data, starts[keep], lengths, self.piece)
            data = kept
        self.chunks, self.lengths, self.keys = [data], [lengths], [keys]
        self.count, self.nbytes = len(keys), len(data)

    def result(self) -> GroupOrder:
        """The kept records, ready to be written in key order."""
        self._cut()
        if not self.chunks:
            empty = np.empty(0, dtype=np.uint8)
            return GroupOrder(empty, np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.uint64), self.piece)
        bounds = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.lengths[0], out=bounds[1:])
        return GroupOrder(self.chunks[0], bounds, self.keys[0], self.piece)


def walk_smallest_keys(invert: Callable[[np.ndarray], np.ndarray], n: int, k: int, chunk: int) -> Iterator[np.ndarray]:
    """Yield, in key order, the indices below ``n`` of the ``k`` smallest keys.

    Walks the keys 0, 1, 2, ... upward ``chunk`` at a time, maps them back to indices with
    ``invert`` (a bijection of 64-bit integers, e.g. :func:`invert_keys`) and keeps the
    indices below ``n``.  About ``k * 2**64 / n`` keys are inverted, whatever ``n`` is, so
    ``-n 3`` on a range of 2**64 numbers is instant.  Memory is ``chunk`` keys.
    """
    key = 0
    left = k
    while left > 0 and key <= MASK64:
        expected = left * (MASK64 + 1) // max(n, 1)
        size = min(max(expected + expected // 8, 1024), chunk, MASK64 + 1 - key)
        keys = np.arange(size, dtype=np.uint64)
        keys += np.uint64(key)
        indices = invert(keys)
        if n <= MASK64:
            indices = indices[indices < np.uint64(n)]
        indices = indices[:left]
        key += size
        left -= len(indices)
        if len(indices):
            yield indices


def enumerate_smallest_keys(draw: Callable[[np.ndarray], np.ndarray], n: int, k: int, chunk: int) -> np.ndarray:
    """Return, in key order, the indices below ``n`` of the ``k`` smallest keys.

    Draws the keys (``draw``, e.g. :func:`draw_keys`) of every index 0..n-1, ``chunk`` at
    a time: cost about ``n``, memory about ``2 k + chunk`` keys and indices.  As in
    :class:`SmallestKeys`, candidates pile up to ``2 k`` and are then cut back to the
    ``k`` smallest, whose largest key bounds every later candidate.  Gives exactly what
    :func:`walk_smallest_keys` yields, by another route.
    """
    keys_kept: list[np.ndarray] = []
    indices_kept: list[np.ndarray] = []
    count = 0
    limit: np.uint64 | None = None

    def cut() -> None:
        """Cut the candidates back to the ``k`` smallest; their largest key bars later ones."""
        nonlocal count, limit
        keys = np.concatenate(keys_kept)
        indices = np.concatenate(indices_kept)
        if len(keys) > k:
            keep = np.argpartition(keys, k - 1)[:k]
            keys, indices = keys[keep], indices[keep]
            limit = keys.max()
        keys_kept[:] = [keys]
        indices_kept[:] = [indices]
        count = len(keys)

    for lo in range(0, n, chunk):
        indices = np.arange(lo, min(n, lo + chunk), dtype=np.uint64)
        keys = draw(indices)
        if limit is not None:
            hits = np.flatnonzero(keys < limit)
            indices, keys = indices[hits], keys[hits]
        keys_kept.append(keys)
        indices_kept.append(indices)
        count += len(keys)
        if count >= 2 * k:
            cut()
    if not keys_kept:
        return np.empty(0, dtype=np.uint64)
    cut()
    return indices_kept[0][np.argsort(keys_kept[0])]
