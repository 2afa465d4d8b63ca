"""shuf_big.core.scatter: index-gap coding and scattering a batch into buckets by key prefix."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]  # the conftest fixture's type


@given(st.lists(st.integers(1, 300_000), max_size=300), st.integers(1, 50))
def test_gap_coding_round_trips_in_any_feed_sizes(gaps: list[int], feed: int) -> None:
    indices = np.cumsum(gaps, dtype=np.int64) - 1 if gaps else np.empty(0, dtype=np.int64)
    previous = np.concatenate(([-1], indices[:-1])).astype(np.int64)
    encoded = core.encode_gaps(indices, previous)
    assert encoded.dtype == np.uint16
    assert np.array_equal(core.decode_gaps(encoded), indices)
    decoder = core.GapDecoder()
    pieces = [decoder.feed(encoded[i : i + feed]) for i in range(0, len(encoded), feed)]
    assert np.array_equal(np.concatenate([*pieces, np.empty(0, np.int64)]), indices)


def test_gaps_cost_two_bytes_when_small() -> None:
    indices = np.arange(0, 5000, 7, dtype=np.int64)
    previous = np.concatenate(([-1], indices[:-1]))
    assert len(core.encode_gaps(indices, previous)) == len(indices)


@given(
    st.lists(st.binary(min_size=0, max_size=600).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=120),
    st.integers(0, 2**64 - 1),
    st.integers(0, 6),
    st.integers(1, 3000),
)
@settings(max_examples=150)
def test_scatter_groups_by_key_prefix_in_input_order(
    records_array: RecordsArray, records: list[bytes], seed: int, bits: int, piece: int
) -> None:
    spec = core.KeySpec.from_seed(seed)
    data, ends = records_array(records)
    indices = np.arange(1000, 1000 + len(records), dtype=np.int64)
    last = np.full(1 << bits, -1, dtype=np.int64)
    out = np.empty(len(data), dtype=np.uint8)
    if bits == 0:
        with pytest.raises(ValueError):
            core.bucket_ids(core.draw_keys(spec, indices), 0, 17)
        return
    s = core.scatter(data, ends, indices, spec, 0, bits, out, piece)
    gaps, gap_bounds = core.encode_bucket_gaps(s, last)
    keys = core.draw_keys(spec, indices)
    expected_bucket = (keys >> np.uint64(64 - bits)).astype(int)
    for b in range(1 << bits):
        members = np.flatnonzero(expected_bucket == b)
        assert s.counts[b] == len(members)
        blob = bytes(s.data[s.data_bounds[b] : s.data_bounds[b + 1]])
        assert blob == b"".join(records[m] + b"\n" for m in members)
        decoded = core.decode_gaps(gaps[gap_bounds[b] : gap_bounds[b + 1]])
        assert np.array_equal(decoded, indices[members])
        if len(members):
            assert last[b] == indices[members[-1]]
