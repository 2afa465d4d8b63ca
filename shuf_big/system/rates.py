"""Transfer rates on the progress bar: bytes from remote inputs and to uploads, per second.

The bar advances when records are handed on, so a read blocked on a stalled connection
would freeze it with its last rate.  A ticker thread therefore redraws it every interval
with the bytes fetched and sent, their rates over the last few seconds, and, once nothing
has moved for :data:`STALL_AFTER` seconds, how long the run has been stalled.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# The counts a ticker follows: (bytes fetched, bytes sent), None for a side with nothing remote.
Counts = Callable[[], tuple[int | None, int | None]]

STALL_AFTER = 5.0  # seconds without a byte moved before the bar says stalled
WINDOW = 5.0  # seconds the rates are averaged over
_PREFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def binary_size(n: float) -> str:
    """``n`` bytes in binary units labelled as such (``512B``, ``1.50KiB``, ``20.0MiB``):
    tqdm's own scaling writes ``kiB`` for KiB."""
    for prefix in _PREFIXES:
        if abs(n) < 999.5 or prefix == _PREFIXES[-1]:
            if prefix == "":
                return f"{n:.0f}B"
            digits = 2 if abs(n) < 9.995 else 1 if abs(n) < 99.95 else 0
            return f"{n:.{digits}f}{prefix}B"
        n /= 1024
    raise AssertionError("unreachable")


class Rates:
    """Samples of (time, bar position, fetched, sent) over the last :data:`WINDOW` seconds,
    and the text they give."""

    def __init__(self, now: float) -> None:
        self.samples: deque[tuple[float, float, int, int]] = deque([(now, 0.0, 0, 0)])  # the counts start at 0
        self.moved = now  # when a byte last moved

    def text(self, now: float, position: float, fetched: int | None, sent: int | None) -> str:
        """``in 12.0MiB at 4.0MiB/s, out ...`` for the sides that are remote, then ``stalled Ns``."""
        sample = (now, position, fetched or 0, sent or 0)
        if self.samples and sample[1:] != self.samples[-1][1:]:
            self.moved = now
        self.samples.append(sample)
        while len(self.samples) > 2 and now - self.samples[1][0] >= WINDOW:
            self.samples.popleft()
        first = self.samples[0]
        span = now - first[0]
        parts = []
        for label, count, index in (("in", fetched, 2), ("out", sent, 3)):
            if count is not None:
                rate = (count - first[index]) / span if span > 0 else 0.0
                parts.append(f"{label} {binary_size(count)} at {binary_size(rate)}/s")
        if now - self.moved >= STALL_AFTER:
            parts.append(f"stalled {now - self.moved:.0f}s")
        return ", ".join(parts)


class Ticker:
    """A thread that puts :class:`Rates`' text on ``bar`` every ``interval`` seconds
    through ``show`` until stopped."""

    def __init__(self, bar: Any, counts: Counts, show: Callable[[str], None], interval: float) -> None:
        self.bar = bar
        self.counts = counts
        self.show = show
        self.interval = interval
        self.stopped = threading.Event()
        self.rates = Rates(time.monotonic())
        self.thread = threading.Thread(target=self._run, name="shuf-big progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            fetched, sent = self.counts()
            if fetched is None and sent is None:
                continue
            self.show(self.rates.text(time.monotonic(), self.bar.n, fetched, sent))

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()
