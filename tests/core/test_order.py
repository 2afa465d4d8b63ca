"""shuf_big.core.order: a group comes out exactly in key order, a cache-sized sub-bucket at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]  # the conftest fixture's type


@given(
    st.lists(st.binary(max_size=3000).map(lambda b: b.replace(b"\n", b"")), max_size=150),
    st.integers(0, 2**64 - 1),
    st.integers(1, 5000),
    st.booleans(),
    st.integers(1, 4),
)
@settings(max_examples=150)
def test_order_group_sorts_records_by_key(
    records_array: RecordsArray, records: list[bytes], seed: int, piece: int, partitioned: bool, tasks: int
) -> None:
    spec = core.KeySpec.from_seed(seed)
    data, ends = records_array(records)
    bounds = np.concatenate(([0], ends)).astype(np.int64)
    indices = np.arange(len(records), dtype=np.int64) * 3 + 5
    group = core.order_group(data, bounds, indices, spec, piece, partitioned)
    group.prepare(map, tasks)
    out = b"".join(bytes(p) for b in range(group.count) for p in group.parts(b))
    keys = core.draw_keys(spec, indices)
    assert out == b"".join(records[i] + b"\n" for i in np.argsort(keys))


def _backwards(fn: Callable[[range], None], runs: list[range]) -> list[None]:
    """Move the last run of blocks first: a window that spills into a later run's share
    would then be left in place, where threads would leave it only sometimes."""
    return [fn(r) for r in reversed(runs)]


@pytest.mark.parametrize("tasks", [1, 3, 7])
@pytest.mark.parametrize(("lengths", "blocks"), [((1, 20), 3), ((1, 300), 3), ((0, 2), 3), ((1, 60), 8)])
def test_a_partitioned_group_of_many_blocks_comes_out_in_key_order(
    tasks: int, lengths: tuple[int, int], blocks: int
) -> None:
    """Several blocks and sub-buckets, records longer than the window, runs of blocks
    moved in any order.  The group is two buckets one after the other, as pass 2 loads
    them, so most sub-buckets have no record in half of the blocks."""
    rng = np.random.default_rng(lengths[1])
    n = blocks * core.BLOCK_RECORDS + 17
    lens = rng.integers(lengths[0], lengths[1] + 1, n) + 1
    lens[rng.integers(0, n, 20)] = 5000  # longer than any window: copied exactly
    data = rng.integers(0, 10, int(lens.sum())).astype(np.uint8)
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    spec = core.KeySpec.from_seed(11)
    indices = np.arange(n, dtype=np.int64) * 7
    keys = core.draw_keys(spec, indices)
    keys = np.concatenate((np.sort(keys)[: n // 3], np.sort(keys)[n // 3 :]))  # two key ranges ...
    keys[: n // 3] = rng.permutation(keys[: n // 3])  # ... each in random order
    keys[n // 3 :] = rng.permutation(keys[n // 3 :])
    group = core.GroupOrder(data, bounds, keys, 4096, partitioned=True)
    assert group.count > 4
    group.prepare(_backwards, tasks)
    out = b"".join(bytes(p) for b in range(group.count) for p in group.parts(b))
    assert out == b"".join(data[bounds[i] : bounds[i + 1]].tobytes() for i in np.argsort(keys))


def test_a_window_never_spills_into_a_share_another_run_moves() -> None:
    """A sub-bucket with one record in block 1 and the next in block 4: the first one's
    window must not reach the second's bytes when blocks 3-5 move on another thread."""
    n = 6 * core.BLOCK_RECORDS
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 1 << 64, n, dtype=np.uint64)
    hole = (keys >= np.uint64(3 << 60)) & (keys < np.uint64(7 << 60))  # sub-bucket 2 of 8 ...
    keys[hole] -= np.uint64(4 << 60)
    keys[0] = 0
    pair = [core.BLOCK_RECORDS + 5, 4 * core.BLOCK_RECORDS + 5]
    keys[pair] = [5 << 60, (5 << 60) + 1]  # ... holds only these two
    lens = rng.integers(1, 20, n)
    data = rng.integers(0, 10, int(lens.sum())).astype(np.uint8)
    data[np.cumsum(lens)[pair[1]] - lens[pair[1]]] = 99  # the second one's first byte
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    group = core.GroupOrder(data, bounds, keys, 1 << 22, partitioned=True)
    assert group.count == 8
    group.prepare(_backwards, 2)
    out = b"".join(bytes(p) for b in range(group.count) for p in group.parts(b))
    assert out == b"".join(data[bounds[i] : bounds[i + 1]].tobytes() for i in np.argsort(keys))


def test_order_group_uses_cache_sized_sub_buckets_for_big_groups() -> None:
    n = 300_000
    spec = core.KeySpec.from_seed(3)
    ids, count = core.sub_bucket_ids(core.draw_keys(spec, np.arange(n)), n * 8, 32768, 1 << 20)
    assert count > 8
    sizes = np.bincount(ids)
    assert sizes.max() < 4 * n / count


@given(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=300, unique=True), st.integers(0, 60))
def test_radix_order_is_the_argsort_of_the_keys(values: list[int], shared: int) -> None:
    # keys of a sub-bucket share leading bits; ties of the top 32 bits must still sort exactly
    keys = np.array(values, dtype=np.uint64)
    if shared:
        keys = (keys >> np.uint64(shared)) | np.uint64(((1 << 64) - 1) ^ ((1 << (64 - shared)) - 1))
        keys = np.unique(keys)
        np.random.default_rng(shared).shuffle(keys)
    lo = int(keys.min()) if len(keys) else 0
    bits = (int(keys.max()) - lo).bit_length() if len(keys) else 0
    assert np.array_equal(keys[core.radix_order(keys, lo, bits)], np.sort(keys))


def test_radix_order_breaks_ties_of_the_top_bits() -> None:
    pairs = np.array([(1 << 63) + 5, 3, (1 << 63) + 2, 7, (1 << 40) + 1, 1 << 40], dtype=np.uint64)
    assert core.radix_order(pairs, 0, 64).tolist() == np.argsort(pairs).tolist()
    three = np.append(pairs, np.uint64(1))  # 7, 3 and 1 share their top 32 bits
    assert core.radix_order(three, 0, 64).tolist() == np.argsort(three).tolist()
