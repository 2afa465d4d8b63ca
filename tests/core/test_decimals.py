"""shuf_big.core.decimals: the text of ``-i LO-HI``, computed by columns, equals Python's ``str``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuf_big import core


@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 20_000), max_size=200), st.sampled_from([b"\n", b"\0"]))
def test_format_decimal_is_the_numbers_text(values: list[int], sep: bytes) -> None:
    text = core.format_decimal(np.array(values, dtype=np.uint64), sep)
    assert text.dtype == np.uint8
    assert text.tobytes() == b"".join(b"%d" % v + sep for v in values)


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 0), (0, 9), (5, 123), (9, 10), (99_990, 100_010), (2**64 - 30, 2**64 - 1), (7, 6)]
)
def test_decimal_bytes_is_the_length_of_the_text(lo: int, hi: int) -> None:
    values = np.arange(hi - lo + 1, dtype=np.uint64) + np.uint64(lo) if hi >= lo else np.empty(0, dtype=np.uint64)
    assert core.decimal_bytes(lo, hi) == len(core.format_decimal(values, b"\n"))
    assert all(core.decimal_width(v) == len(str(v)) for v in (lo, hi))


def test_the_separator_of_numbers_is_one_byte() -> None:
    values = np.arange(3, dtype=np.uint64)
    for wrong in (b"", b"\n\n"):
        with pytest.raises(ValueError):
            core.format_decimal(values, wrong)
    with pytest.raises(TypeError):
        core.format_decimal(values, 10)  # type: ignore[arg-type]  # the old int form
