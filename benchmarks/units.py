"""Sizes as the benchmarks' options take them (``2G``, ``256M``) and as their reports print them."""

from __future__ import annotations

import argparse
import re

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"2G"`` -> 2147483648 (powers of 1024; a plain number is bytes); an argparse type."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r} (examples: 50M, 2G, 1.5G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(n: float) -> str:
    """Bytes in the largest binary unit below 1024 of it, one decimal: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def split_list(text: str) -> list[str]:
    """``"words, docs,"`` -> ``["words", "docs"]``: the comma-separated options."""
    return [item.strip() for item in text.split(",") if item.strip()]
