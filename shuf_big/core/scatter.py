"""Pass 1: scatter a batch of records into buckets by key prefix, and the index-gap code.

A bucket holds the records whose keys start with one bit prefix.  Its file stores the
records' bytes plus, per record, the gap to the previous record's global index (2 bytes,
not the 8 of a key); pass 2 decodes the indices and draws the keys again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gather import gather_into
from .keys import KeySpec, draw_keys

# An escape in the index-gap stream: "add 65535 and keep reading".
GAP_ESCAPE = 0xFFFF


def bucket_ids(keys: np.ndarray, prefix_bits: int, fanout_bits: int) -> np.ndarray:
    """Return, for each key, the index of its bucket among ``2**fanout_bits``.

    The bucket is given by the ``fanout_bits`` key bits just below the ``prefix_bits``
    already fixed by the parent bucket, so buckets are ordered like their keys.
    """
    if fanout_bits == 0:
        return np.zeros(len(keys), dtype=np.uint16)
    if not 0 < fanout_bits <= 16 or prefix_bits + fanout_bits > 64:
        raise ValueError("bad bucket geometry")
    shifted = np.left_shift(keys, np.uint64(prefix_bits)) if prefix_bits else keys
    ids: np.ndarray = np.right_shift(shifted, np.uint64(64 - fanout_bits)).astype(np.uint16)
    return ids


def encode_gaps(indices: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Encode ascending record indices as uint16 gaps from each one's predecessor.

    ``previous`` holds, per record, the index of the record before it in the same bucket
    (-1 for the first).  A gap ``g`` is stored as ``g // 65535`` escapes followed by
    ``g % 65535``; gaps are about the bucket count, so nearly every record costs 2 bytes
    of temp space instead of the 8 a stored key would.
    """
    gaps: np.ndarray = indices - previous
    if len(gaps) == 0 or int(gaps.max()) < GAP_ESCAPE:  # nearly always: no escapes (and no division)
        return gaps.astype(np.uint16)
    escapes = gaps // GAP_ESCAPE
    out = np.full(len(gaps) + int(escapes.sum()), GAP_ESCAPE, dtype=np.uint16)
    out[np.cumsum(escapes + 1) - 1] = gaps % GAP_ESCAPE
    return out


class GapDecoder:
    """Turn a stream of encoded gaps, fed in pieces of any size, back into indices."""

    def __init__(self) -> None:
        self.last = -1  # index of the last decoded record
        self.pending = 0  # escapes seen since then, already multiplied out

    def feed(self, values: np.ndarray) -> np.ndarray:
        """The indices of the records whose gaps end in ``values`` (escapes carry over)."""
        if len(values) == 0:
            return np.empty(0, dtype=np.int64)
        running: np.ndarray = np.cumsum(values, dtype=np.int64)
        running += self.last + self.pending
        final = values != GAP_ESCAPE
        indices: np.ndarray = running[final]
        if len(indices):
            self.last = int(indices[-1])
        self.pending = int(running[-1]) - self.last
        return indices


def decode_gaps(values: np.ndarray) -> np.ndarray:
    """Decode one whole bucket's gap stream into its record indices."""
    return GapDecoder().feed(values)


def group_by_bucket(ids: np.ndarray, nbuckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a stable order grouping records by bucket id, and the bucket bounds.

    ``order[bounds[b]:bounds[b + 1]]`` are bucket ``b``'s records in input order.  A stable
    argsort of uint16 is a radix sort in numpy: a few ns per record.
    """
    order = np.argsort(ids, kind="stable")
    bounds = np.zeros(nbuckets + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=nbuckets), out=bounds[1:])
    return order, bounds


@dataclass
class Scattered:
    """A batch of records grouped by bucket, ready to be appended to bucket files."""

    data: np.ndarray  # the batch's bytes, bucket by bucket
    data_bounds: np.ndarray  # bucket b's bytes: data[data_bounds[b]:data_bounds[b+1]]
    indices: np.ndarray  # the records' global indices, bucket by bucket
    bounds: np.ndarray  # bucket b's records: indices[bounds[b]:bounds[b+1]]

    @property
    def counts(self) -> np.ndarray:
        """Records per bucket in this batch."""
        return np.diff(self.bounds)


def scatter(
    data: np.ndarray,
    ends: np.ndarray,
    indices: np.ndarray,
    spec: KeySpec,
    prefix_bits: int,
    fanout_bits: int,
    out: np.ndarray,
    piece: int,
) -> Scattered:
    """Group one batch of records by bucket, keeping input order inside each bucket.

    ``ends`` are the records' end offsets in ``data``; ``indices`` their global indices.
    ``out`` receives the regrouped bytes and must be at least ``ends[-1]`` long.  Batches
    are independent, so several can be scattered at once; their gaps are encoded in
    input order afterwards (:func:`encode_bucket_gaps`).
    """
    nbuckets = 1 << fanout_bits
    keys = draw_keys(spec, indices)
    ids = bucket_ids(keys, prefix_bits, fanout_bits)
    del keys
    order, bounds = group_by_bucket(ids, nbuckets)
    del ids
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1]
    lengths = ends - starts
    lengths = lengths[order]
    gather_into(out[: int(ends[-1])], data, starts[order], lengths, piece)
    del starts
    data_bounds = np.zeros(nbuckets + 1, dtype=np.int64)
    np.cumsum(lengths, out=lengths)
    filled = bounds[1:] > bounds[:-1]
    data_bounds[1:][filled] = lengths[bounds[1:][filled] - 1]
    np.maximum.accumulate(data_bounds, out=data_bounds)
    return Scattered(out, data_bounds, indices[order], bounds)


def encode_bucket_gaps(s: Scattered, last_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode a scattered batch's indices as gaps per bucket; returns (gaps, gap_bounds).

    ``last_index[b]`` is the last index already written to bucket ``b`` (-1 if none) and
    is updated, so batches must pass through here in input order.
    """
    indices, bounds = s.indices, s.bounds
    filled = bounds[1:] > bounds[:-1]
    previous = np.empty_like(indices)
    previous[1:] = indices[:-1]
    previous[bounds[:-1][filled]] = last_index[filled]
    last_index[filled] = indices[bounds[1:][filled] - 1]
    gaps = encode_gaps(indices, previous)
    return gaps, (bounds if len(gaps) == len(indices) else _gap_bounds(gaps, bounds))


def _gap_bounds(gaps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Bucket boundaries in an escaped gap stream, from the record boundaries."""
    final_positions = np.flatnonzero(gaps != GAP_ESCAPE)
    out = np.empty_like(bounds)
    out[0] = 0
    out[1:] = np.where(bounds[1:] > 0, final_positions[np.maximum(bounds[1:] - 1, 0)] + 1, 0)
    return out
