"""Progress on stderr: one place that decides how a bar looks, so output is never garbled."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int | None, desc: str, enabled: bool) -> tqdm:
    """A byte-counting bar on stderr (binary units); a silent counter when not ``enabled``."""
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )
