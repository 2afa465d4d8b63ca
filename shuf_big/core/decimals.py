"""Decimal text of many integers at once, for ``-i LO-HI``: the numbers are the records."""

from __future__ import annotations

import numpy as np

_POW10 = np.array([10**p for p in range(19, -1, -1)], dtype=np.uint64)


def decimal_width(value: int) -> int:
    """How many decimal digits ``value`` (>= 0) has."""
    return len(str(value))


def format_decimal(values: np.ndarray, sep: bytes) -> np.ndarray:
    """The decimal text of uint64 ``values``, each followed by ``sep``, as one uint8 array.

    ``sep`` is one byte, as everywhere in the core a separator is ``bytes``; the text is
    a fixed-width table with one column for it.  Digits are computed column by column at
    the width of the largest value (nine digits at a time in uint32, which numpy divides
    several times faster than uint64), then leading zeros are masked out row by row,
    keeping the values' order: ~100 ns a number.
    """
    if not isinstance(sep, bytes):
        raise TypeError(f"the separator must be bytes, not {type(sep).__name__}")
    if len(sep) != 1:
        raise ValueError(f"the separator of numbers must be one byte, got {sep!r}")
    values = np.asarray(values, dtype=np.uint64)
    if len(values) == 0:
        return np.empty(0, dtype=np.uint8)
    width = decimal_width(int(values.max()))
    rows = np.empty((len(values), width + 1), dtype=np.uint8)
    rest = values
    col = width - 1
    while col >= 0:
        if col >= 9:
            high = rest // np.uint64(10**9)
            part = (rest - high * np.uint64(10**9)).astype(np.uint32)
            rest = high
        else:
            part = rest.astype(np.uint32)
        for _ in range(min(9, col + 1)):
            quotient = part // np.uint32(10)
            rows[:, col] = part - quotient * np.uint32(10)
            part = quotient
            col -= 1
    rows[:, :width] += ord("0")
    rows[:, width] = sep[0]
    if width == 1:
        return rows.reshape(-1)
    keep = np.ones(rows.shape, dtype=bool)
    keep[:, : width - 1] = values[:, None] >= _POW10[20 - width : 19]
    return rows[keep]


def decimal_bytes(lo: int, hi: int) -> int:
    """The length of the text of the numbers ``lo..hi``, each followed by one separator."""
    total = 0
    for width in range(1, 21):
        first = max(lo, 10 ** (width - 1) if width > 1 else 0)
        last = min(hi, 10**width - 1)
        if first <= last:
            total += (last - first + 1) * (width + 1)
    return total
