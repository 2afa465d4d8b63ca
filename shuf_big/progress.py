"""Progress on stderr: one place that decides how a bar looks, so output is never garbled.

On a terminal the bar redraws in place; on a file or pipe (a job log) it writes one
plain line every :data:`LOG_INTERVAL` seconds and when it ends, never a carriage return.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm

# Seconds between two lines of progress in a log (stderr not a terminal).
LOG_INTERVAL = 30.0


class LogLines:
    """A stream for tqdm that turns its carriage-return redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip("\n")
        if line.strip():
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def same_terminal(a: int, b: int) -> bool:
    """Whether descriptors ``a`` and ``b`` are the same terminal (a bar on it would garble the output)."""
    try:
        if not (os.isatty(a) and os.isatty(b)):
            return False
        sa, sb = os.fstat(a), os.fstat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_rdev, sa.st_ino) == (sb.st_rdev, sb.st_ino)


def wanted(requested: bool | None, output_to_stdout: bool) -> bool:
    """The default of ``--progress``: stderr is a terminal that the output does not go to."""
    if requested is not None:
        return requested
    try:
        on_terminal = os.isatty(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return on_terminal and not (output_to_stdout and same_terminal(1, 2))


_TERMINAL = "{l_bar}{bar}| {n_fmt}iB/{total_fmt}iB [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LOG = "{desc}: {percentage:3.0f}% {n_fmt}iB of {total_fmt}iB, {rate_fmt}, elapsed {elapsed}, ETA {remaining}{postfix}"
_LOG_UNSIZED = "{desc}: {n_fmt}iB, {rate_fmt}, elapsed {elapsed}{postfix}"


def _format(total: int | None, terminal: bool) -> str | None:
    if terminal:
        return _TERMINAL if total is not None else None
    return _LOG if total is not None else _LOG_UNSIZED


def bar(total: int | None, desc: str, enabled: bool) -> tqdm:
    """A byte-counting bar on stderr (binary units, labelled MiB); a silent counter when not ``enabled``."""
    try:
        terminal = enabled and os.isatty(sys.stderr.fileno())
        sized = terminal and os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        terminal = sized = False
    return tqdm(
        total=total,
        desc=desc,
        unit="iB",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        file=sys.stderr if terminal else LogLines(sys.stderr),
        dynamic_ncols=sized,
        ncols=None if sized else 100,  # a terminal without a size (a bare pty) reports 0 columns
        bar_format=_format(total, terminal),
        mininterval=0.1 if terminal else LOG_INTERVAL,
        maxinterval=10.0 if terminal else LOG_INTERVAL,
    )
