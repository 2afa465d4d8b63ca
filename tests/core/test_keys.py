"""shuf_big.core.keys: the key function depends only on seed and index, never ties, looks uniform."""

from __future__ import annotations

import numpy as np
import pytest

from shuf_big import core


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
