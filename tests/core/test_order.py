"""shuf_big.core.order: a group comes out exactly in key order, a cache-sized sub-bucket at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]  # the conftest fixture's type


@given(
    st.lists(st.binary(max_size=3000).map(lambda b: b.replace(b"\n", b"")), max_size=150),
    st.integers(0, 2**64 - 1),
    st.integers(1, 5000),
)
@settings(max_examples=150)
def test_order_group_sorts_records_by_key(
    records_array: RecordsArray, records: list[bytes], seed: int, piece: int
) -> None:
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
