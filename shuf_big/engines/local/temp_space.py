"""Whether a run's temp files are compressed (``--compress-temp``), and whether they fit.

A plain run needs about the input's bytes plus 2 bytes a record of temp space.  ``auto``
compresses only where the temp file systems lack that: the ratio is measured on the first
chunk of input, before any temp byte is written, and the compressed estimate must fit, else
the run fails at once.  Bucket records are a sparse subsequence of the input, so they
compress somewhat worse than the chunk (:data:`MARGIN`).
"""

from __future__ import annotations

import warnings

import numpy as np

from shuf_big.budget.sizes import format_size
from shuf_big.errors import TempCompressionNotice
from shuf_big.files.frames import compress
from shuf_big.files.records import Batch, LongRecord, Span
from shuf_big.system.space import GAP_BYTES, free_text, plain_need
from shuf_big.system.tempfiles import TempDirs

SAMPLE = 4 << 20  # bytes of the first chunk compressed for the estimate
MARGIN = 1.15  # buckets' records against the sample's ratio (measured 1.02-1.08)
GAP_RATIO = 0.75  # index gaps compressed (measured 0.5-0.7)


def ratio_of(first: Batch | Span | LongRecord) -> float:
    """The compressed share of the first chunk's bytes (1.0 for a record longer than a chunk)."""
    if isinstance(first, LongRecord):
        return 1.0
    size = first.size if isinstance(first, Span) else int(first.ends[-1]) if len(first.ends) else 0
    sample = np.asarray(first.data[: min(size, SAMPLE)])
    return len(compress(memoryview(sample))) / len(sample) if len(sample) else 1.0


def packed_need(size: int, average: float, ratio: float) -> int:
    """Temp bytes of a compressed run over ``size`` input bytes."""
    return int(size * ratio * MARGIN + size / max(average, 1.0) * GAP_BYTES * GAP_RATIO)


def choose(
    mode: str,
    temp: TempDirs,
    first: Batch | Span | LongRecord,
    average: float,
    size: int | None,
    estimate: int | None,
) -> bool:
    """Whether to compress; fails at once when the temp space cannot hold the run.

    ``size`` is the input's exact size (None: unknown), ``estimate`` what a compressed
    input will give (for ``auto``'s choice only: a run is refused on exact sizes alone).
    """
    plain = None if size is None else plain_need(size, average)
    if mode == "never":
        temp.check_space(plain)
        return False
    total = size if size is not None else estimate
    if mode == "auto" and (total is None or temp.fits(plain_need(total, average))):
        temp.check_space(plain)
        return False
    ratio = ratio_of(first)
    temp.check_space(None if size is None else packed_need(size, average, ratio), plain)  # warns of RAM too
    if mode == "auto" and total is not None:
        need, expected = plain_need(total, average), packed_need(total, average, ratio)
        warnings.warn(
            TempCompressionNotice(
                f"temp space: {free_text(temp.locations)}, a plain run needs about {format_size(need)}: "
                f"compressing temp files (about {format_size(expected)} expected)"
            ),
            stacklevel=2,
        )
    return True
