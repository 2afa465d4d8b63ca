"""shuf_big.core.head: ``-n K`` keeps exactly the K records the full shuffle would write first."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]  # the conftest fixture's type


@given(
    st.lists(st.binary(max_size=400).map(lambda b: b.replace(b"\n", b"")), max_size=200),
    st.integers(0, 2**64 - 1),
    st.integers(1, 60),
    st.integers(1, 40),
    st.integers(1, 3000),
)
@settings(max_examples=150, deadline=None)
def test_smallest_keys_are_the_start_of_the_full_shuffle(
    records_array: RecordsArray, records: list[bytes], seed: int, k: int, batch: int, piece: int
) -> None:
    spec = core.KeySpec.from_seed(seed)
    selection = core.SmallestKeys(k, piece)
    for lo in range(0, len(records), batch):  # batches as the reader hands them out
        data, ends = records_array(records[lo : lo + batch])
        selection.offer(data, ends, core.draw_keys(spec, np.arange(lo, lo + len(ends))))
    group = selection.result()
    out = b"".join(bytes(p) for b in range(group.count) for p in group.parts(b))
    shuffled = np.argsort(core.draw_keys(spec, np.arange(len(records))))
    assert out == b"".join(records[i] + b"\n" for i in shuffled[:k])
