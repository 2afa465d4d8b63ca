"""The pure core: keys, framing, gap coding, scatter and ordering, on whole arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core


def records_array(records: list[bytes], sep: bytes = b"\n") -> tuple[np.ndarray, np.ndarray]:
    blob = b"".join(r + sep for r in records)
    data = np.frombuffer(blob, dtype=np.uint8).copy()
    ends = np.cumsum([len(r) + 1 for r in records]).astype(np.int64)
    return data, ends


def test_keys_depend_only_on_seed_and_index() -> None:
    spec = core.KeySpec.from_seed(42)
    whole = core.draw_keys(spec, np.arange(100_000))
    # Any slice of indices gives the same keys as the whole range: this is what makes the
    # output independent of batch sizes, bucket counts and memory.
    part = core.draw_keys(spec, np.arange(31_337, 31_400))
    assert np.array_equal(part, whole[31_337:31_400])
    assert not np.array_equal(core.draw_keys(core.KeySpec.from_seed(43), np.arange(100)), whole[:100])


def test_keys_never_tie_and_look_uniform() -> None:
    keys = core.draw_keys(core.KeySpec.from_seed(7), np.arange(1 << 20))
    assert len(np.unique(keys)) == len(keys)  # a bijection of the index
    top = (keys >> np.uint64(56)).astype(np.int64)  # 256 leading-byte cells
    counts = np.bincount(top, minlength=256)
    expected = len(keys) / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 360  # 255 degrees of freedom: p ~ 1e-4


def test_neighbouring_seeds_are_not_shifted_copies() -> None:
    a = core.draw_keys(core.KeySpec.from_seed(1), np.arange(1, 10_001))
    b = core.draw_keys(core.KeySpec.from_seed(2), np.arange(0, 10_000))
    assert not np.array_equal(a, b)
    # relative orders of consecutive records agree about half the time, not always
    agree = np.mean((np.diff(a.astype(np.float64)) > 0) == (np.diff(b.astype(np.float64)) > 0))
    assert 0.45 < agree < 0.55


@pytest.mark.parametrize("seed", [-1, 1 << 64])
def test_seed_range(seed: int) -> None:
    with pytest.raises(ValueError):
        core.KeySpec.from_seed(seed)


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=200), st.integers(1, 64))
def test_find_ends_and_frame_into_agree_with_split(records: list[bytes], window: int) -> None:
    data, ends = records_array(records)
    assert np.array_equal(core.find_ends(data, b"\n", len(records) + 1, window), ends)
    limited = core.find_ends(data, b"\n", 3, window)
    assert np.array_equal(limited, ends[:3])
    bounds = np.empty(len(records) + 1, dtype=np.int64)
    assert core.frame_into(bounds, data, b"\n", window) == len(records)
    assert np.array_equal(bounds[1:], ends)
    assert core.count_records(data, b"\n", window) == len(records)


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
def test_scatter_groups_by_key_prefix_in_input_order(records: list[bytes], seed: int, bits: int, piece: int) -> None:
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


@given(
    st.lists(st.binary(max_size=3000).map(lambda b: b.replace(b"\n", b"")), max_size=150),
    st.integers(0, 2**64 - 1),
    st.integers(1, 5000),
)
@settings(max_examples=150)
def test_order_group_sorts_records_by_key(records: list[bytes], seed: int, piece: int) -> None:
    spec = core.KeySpec.from_seed(seed)
    data, ends = records_array(records)
    bounds = np.concatenate(([0], ends)).astype(np.int64)
    indices = np.arange(len(records), dtype=np.int64) * 3 + 5
    group = core.order_group(data, bounds, indices, spec, piece)
    out = b"".join(bytes(p) for b in range(group.count) for p in group.parts(b))
    keys = core.draw_keys(spec, indices)
    assert out == b"".join(records[i] + b"\n" for i in np.argsort(keys))


def test_order_group_uses_cache_sized_sub_buckets_for_big_groups() -> None:
    n = 300_000
    spec = core.KeySpec.from_seed(3)
    ids, count = core.sub_bucket_ids(core.draw_keys(spec, np.arange(n)), n * 8, 32768, 1 << 20)
    assert count > 8
    sizes = np.bincount(ids)
    assert sizes.max() < 4 * n / count


@given(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=300, unique=True), st.integers(0, 60))
def test_key_order_is_the_argsort_of_the_keys(values: list[int], shared: int) -> None:
    # keys of a sub-bucket share leading bits; ties of the packed 48 bits must still sort exactly
    keys = np.array(values, dtype=np.uint64)
    if shared:
        keys = (keys >> np.uint64(shared)) | np.uint64(((1 << 64) - 1) ^ ((1 << (64 - shared)) - 1))
        keys = np.unique(keys)
    assert np.array_equal(keys[core.key_order(keys)], np.sort(keys))


def test_key_order_breaks_ties_of_the_packed_bits() -> None:
    keys = np.array([(1 << 63) + 5, 3, (1 << 63) + 2, 7], dtype=np.uint64)  # 3 and 7 tie once 16 bits drop
    assert core.key_order(keys).tolist() == np.argsort(keys).tolist()


@given(st.data(), st.sampled_from(["short", "long", "mixed"]), st.integers(1, 5000))
@settings(max_examples=150, deadline=None)  # draws up to 200 values an example: no per-example deadline
def test_ordered_parts_are_the_records_in_order(data: st.DataObject, kind: str, piece: int) -> None:
    threshold = core.SLICE_COPY_MIN_AVERAGE
    lo, hi = {"short": (0, threshold - 1), "long": (threshold, 3000), "mixed": (0, 3000)}[kind]
    blob = data.draw(st.binary(min_size=3000, max_size=6000))
    source = np.frombuffer(blob, dtype=np.uint8)
    lengths = data.draw(st.lists(st.integers(lo, hi), max_size=100))
    starts = [data.draw(st.integers(0, len(blob) - n)) for n in lengths]  # any order, repeats allowed (-r)
    parts = core.ordered_parts(source, np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64), piece)
    assert b"".join(parts) == b"".join(blob[s : s + n] for s, n in zip(starts, lengths, strict=True))
    views = [np.shares_memory(np.frombuffer(p, dtype=np.uint8), source) for p in parts]
    if kind == "long":  # every record a view of the source: no copy
        assert len(parts) == len(lengths) and all(views)
    if kind == "short":  # every run gathered into the new buffer
        assert not any(views)
