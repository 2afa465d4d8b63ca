"""GNU shuf's option syntax and checks: counts, ranges and seeds parsed as GNU shuf parses
them, and which options clash, in its order.  The command calls these while it parses (before
numpy is loaded: nothing here imports it); :func:`~shuf_big.options.resolve.resolve` calls
them for the API's arguments, so both say the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shuf_big.errors import ShufBigError, UsageError

# The largest -i bound: numbers are 64-bit (core's keys and decimals).
RANGE_MAX = (1 << 64) - 1


# GNU's xstrtoumax in base 10 (leading white space, an optional '+').
_DECIMAL = re.compile(r"[ \t\n\v\f\r]*\+?([0-9]+)")


def _parse_bound(text: str) -> int:
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid input range: '{text}'")
    value = int(match.group(1))
    if value > RANGE_MAX:
        raise ShufBigError(f"invalid input range: '{text}': Value too large for defined data type")
    return value


def parse_count(text: str) -> int:
    """Parse ``-n COUNT`` as GNU shuf does (base 10, leading white space and '+' allowed).

    Counts beyond 2**64-1, which GNU shuf takes as "no limit", stay exact Python ints.
    """
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid line count: '{text}'")
    return int(match.group(1))


def parse_input_range(text: str) -> tuple[int, int]:
    """Parse ``-i LO-HI`` as GNU shuf does; ``HI = LO - 1`` is an empty range.

    Unlike GNU shuf (whose line count must fit in 64 bits), ``0-18446744073709551615``
    is accepted: its 2**64 numbers can be sampled with ``-n`` or ``-r``.
    """
    lo_text, dash, hi_text = text.partition("-")
    if not dash:
        _parse_bound(text)
        raise ShufBigError(f"invalid input range: '{text}'")
    lo = _parse_bound(lo_text)
    hi = _parse_bound(hi_text)
    if lo > hi + 1:
        raise ShufBigError(f"invalid input range: '{text}'")
    return lo, hi


def parse_seed(text: str) -> int:
    """``--seed``: decimal (leading zeros allowed) or ``0x``/``0o``/``0b``-prefixed."""
    try:
        if text.lower().lstrip("+").startswith(("0x", "0o", "0b")):
            return int(text, 0)
        return int(text, 10)
    except ValueError:
        raise ShufBigError(f"invalid --seed: '{text}'") from None


def check_repeats(outputs: Sequence[object], aligned: bool, random_sources: Sequence[str], input_ranges: int) -> None:
    """Options given twice, as GNU shuf's parser meets them (a repeated identical ``-o``
    is one output; ``--aligned`` takes one ``-o`` per input)."""
    if len(set(outputs)) > 1 and not aligned:
        raise ShufBigError("multiple output files specified")
    if len(set(random_sources)) > 1:
        raise ShufBigError("multiple random sources specified")
    if input_ranges > 1:
        raise ShufBigError("multiple -i options specified")


def check_conflicts(
    echo: bool, input_range: bool, random_source: bool, seed: bool, operands: Sequence[str], files_from: bool
) -> None:
    """Options that exclude each other, checked once all are parsed (GNU's order)."""
    if echo and input_range:
        raise UsageError("cannot combine -e and -i options")
    if random_source and seed:
        raise UsageError("cannot combine --random-source and --seed options")
    if input_range and operands:
        raise UsageError(f"extra operand '{operands[0]}'")
    if files_from and operands:
        raise UsageError("file operands cannot be combined with --files-from")
