"""Parse memory sizes the way GNU ``sort -S`` does: ``4G``, ``1.5G``, ``512M``, ``25%``."""

from __future__ import annotations

import re

# The default memory budget (--mem, mem=): a share of physical RAM, as GNU sort's default.
DEFAULT_MEM = "25%"
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:(%)|([bBkKmMgGtTpPeE]?)(?:i?B)?)\s*$")


def parse_size(text: str | int, memory: int) -> int:
    """Return the byte count of a size such as ``"4G"``, ``"64K"``, ``"1.5G"``, ``"25%"``.

    Suffixes are powers of 1024 (``K``, ``M``, ``G``, ``T``, ``P``, ``E``, optionally
    followed by ``iB``/``B``); ``%`` is a share of ``memory`` (the memory this process may
    use, :func:`shuf_big.budget.memory.available_memory`).  Unlike GNU sort, a plain number means
    bytes.

    >>> parse_size("1.5K", 0), parse_size("25%", 1000)
    (1536, 250)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"invalid size: {text}")
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number, percent, unit = match.groups()
    value = float(number)
    if percent:
        if value > 100:
            raise ValueError(f"invalid size: '{text}' (more than 100%)")
        return int(memory * value / 100)
    return int(value * _UNITS[unit.upper()])


def format_size(n: float) -> str:
    """Render a byte count for messages: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def size_option(n: int) -> str:
    """A short, round size of at least ``n`` bytes, as ``--mem`` takes it: ``201K``,
    ``1.21M``, ``3G`` (three significant digits, rounded up)."""
    if n < 1024:
        return str(n)
    unit = next(u for u in ("K", "M", "G", "T", "P") if n <= 1000 * _UNITS[u] or u == "P")
    scale = _UNITS[unit]
    decimals = max(3 - len(str(max(n // scale, 1))), 0)
    tenths = -(-n * 10**decimals // scale)  # in units of scale / 10**decimals, rounded up
    while True:
        whole, part = divmod(tenths, 10**decimals)
        text = f"{whole}.{part:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)
        if parse_size(text + unit, 0) >= n:  # parse_size multiplies a float: it may round down
            return text + unit
        tenths += 1
