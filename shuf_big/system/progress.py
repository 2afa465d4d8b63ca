"""Progress on stderr: one place that decides how a bar looks, so output is never garbled.

One bar covers the whole run, so its ETA is the run's: the total is the inputs' size on
disk once per pass (compressed inputs advance by compressed bytes consumed).  A writing
phase spreads the units its reading phase counted over the bytes it writes, so both
passes weigh the same whatever the compression.  On a terminal the bar redraws in place;
on a file or pipe (a job log) it writes one plain line every :data:`LOG_INTERVAL`
seconds and at each phase's start and end, never a carriage return.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from shuf_big.system.rates import Counts, Ticker, binary_size

if TYPE_CHECKING:
    from tqdm import tqdm

# Seconds between two lines of progress in a log (stderr not a terminal).
LOG_INTERVAL = 30.0


class LogLines:
    """A stream for tqdm that turns its carriage-return redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip("\n").rstrip()
        if line.strip() and line != self.last:  # the end of a phase and of the run may repeat it
            self.stream.write(line + "\n")
            self.last = line

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


_TERMINAL = "{l_bar}{bar}| {done}/{size} [{elapsed}<{remaining}, {speed}{postfix}]"
_TERMINAL_UNSIZED = "{desc}: {done} [{elapsed}, {speed}{postfix}]"
_LOG = "{desc}: {percentage:3.0f}% {done} of {size}, {speed}, elapsed {elapsed}, ETA {remaining}{postfix}"
_LOG_UNSIZED = "{desc}: {done}, {speed}, elapsed {elapsed}{postfix}"


@functools.cache
def _bar_class() -> type[tqdm]:
    """tqdm, imported when a bar is shown, with formats that get byte counts in binary
    units (``{done}``, ``{size}``, ``{speed}``)."""
    from tqdm import tqdm

    class Bar(tqdm):
        @property
        def format_dict(self) -> dict[str, object]:
            d = super().format_dict
            elapsed = d.get("elapsed") or 0
            rate = d.get("rate") or (d["n"] / elapsed if elapsed else None)
            d["done"] = binary_size(d["n"])
            d["size"] = binary_size(d["total"]) if d.get("total") is not None else "?"
            d["speed"] = f"{binary_size(rate)}/s" if rate else "?B/s"
            return d

    return Bar


def _format(total: int | None, terminal: bool) -> str:
    if terminal:
        return _TERMINAL if total is not None else _TERMINAL_UNSIZED
    return _LOG if total is not None else _LOG_UNSIZED


class Silent:
    """What a bar counts, shown nowhere: a run without progress does not import tqdm."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.n: float = 0
        self.last_print_t = 0.0  # as tqdm's: when it last drew

    def update(self, n: float) -> None:
        self.n += n

    def set_description_str(self, text: str, refresh: bool = False) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _stream_settings() -> tuple[bool, dict[str, Any]]:
    """Whether stderr is a terminal, and the tqdm settings that follow from it: redrawn in
    place on a terminal, one plain line per interval in a log (never cut to a width)."""
    try:
        terminal = os.isatty(sys.stderr.fileno())
        sized = terminal and os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        terminal = sized = False
    return terminal, {
        "file": sys.stderr if terminal else LogLines(sys.stderr),
        "dynamic_ncols": sized,
        # a terminal without a size (a bare pty) reports 0 columns
        "ncols": 100 if terminal and not sized else None,
        "mininterval": 0.1 if terminal else LOG_INTERVAL,
        "maxinterval": 10.0 if terminal else LOG_INTERVAL,
    }


def task_bar(desc: str, enabled: bool) -> Any:
    """A bar counting tasks (the Dask engine's stages), by the same rules as :func:`bar`."""
    if not enabled:
        return Silent(0)
    from tqdm import tqdm

    terminal, settings = _stream_settings()
    log_format = "{desc}: {n_fmt}/{total_fmt} tasks, elapsed {elapsed}, ETA {remaining}"
    return tqdm(total=0, desc=desc, unit="task", bar_format=None if terminal else log_format, **settings)


def bar(total: int | None, desc: str, enabled: bool) -> tqdm | Silent:
    """A byte-counting tqdm bar on stderr (binary units, labelled MiB); a :class:`Silent`
    counter when not ``enabled``."""
    if not enabled:
        return Silent(total)
    terminal, settings = _stream_settings()
    return _bar_class()(
        total=total,
        desc=desc,
        unit="B",
        bar_format=_format(total, terminal),
        delay=1e-3,  # nothing before the first step names itself
        **settings,
    )


class Tracked(Protocol):
    """What the bar asks of the reader it follows (declared here, below the readers of
    ``files/``, which implement it as part of their protocol)."""

    @property
    def current_what(self) -> str:
        """The input being read now, as messages name it ('' for records no input holds)."""
        ...

    @property
    def disk_size(self) -> int | None:
        """Its inputs' bytes on disk, when they are all regular files: what :meth:`consumed` ends at."""
        ...

    def consumed(self) -> int:
        """The bytes of its inputs behind what it has handed out (compressed bytes for a
        compressed input)."""
        ...


def position(raw: Tracked, read: int) -> int:
    """How far the progress of reading ``raw`` is: its bytes consumed on disk (compressed
    bytes for a compressed input) when its size on disk is known, else ``read``."""
    return raw.consumed() if raw.disk_size is not None else read


def expected_size(raw: Tracked, read: int) -> int | None:
    """What ``raw`` will give in all when only its size on disk is known (compressed
    inputs): the ``read`` bytes it gave so far, scaled by the share of the disk bytes
    consumed.  An estimate, for planning only; None where nothing tells."""
    disk = raw.disk_size
    if not disk or not read:
        return None
    done = raw.consumed()
    return read * disk // done if done > 0 else None


def input_name(raw: Tracked) -> str:
    """The input ``raw`` is reading now, for the bar's description."""
    return raw.current_what


class Progress:
    """The run's one bar; each step of the shuffle reports through a :class:`Phase`."""

    def __init__(self, enabled: bool = False, total: int | None = None) -> None:
        self.enabled = enabled
        self.bar = bar(total, "", enabled)
        self.label = ""  # which input, with --aligned
        self.read_units = 0.0  # what the current stream's reading phases counted
        self.notes: dict[str, str] = {}  # the parts of the bar's postfix, by who set them
        self.ticker: Ticker | None = None

    def note(self, key: str, text: str, refresh: bool = False) -> None:
        """Set one part of the bar's postfix (a phase's own count, the transfer rates)."""
        self.notes[key] = text
        self.bar.set_postfix_str(", ".join(t for t in self.notes.values() if t), refresh=refresh)

    def watch(self, counts: Counts) -> None:
        """Show the bytes and rates of remote transfers on the bar, redrawn every second on
        a terminal (every log interval in a log) while nothing else draws it."""
        if not self.enabled or self.ticker is not None:
            return
        interval = 1.0 if _stream_settings()[0] else LOG_INTERVAL
        self.ticker = Ticker(self.bar, counts, lambda text: self._show_rates(text, interval), interval)
        self.ticker.start()

    def _show_rates(self, text: str, interval: float) -> None:
        # the bar's own redraws carry the text while it moves; a stalled bar is redrawn here
        self.note("transfers", text, refresh=time.time() - self.bar.last_print_t >= interval)

    def phase(self, desc: str, writes: int | None = None) -> Phase:
        """A step; a writing step of ``writes`` bytes weighs what the reading steps counted."""
        scale = 1.0
        if writes is not None:
            scale = self.read_units / writes if writes else 0.0
        return Phase(self, desc, scale, reading=writes is None)

    def new_stream(self) -> None:
        self.read_units = 0.0

    def close(self) -> None:
        if self.ticker is not None:
            self.ticker.stop()
        self.bar.close()


class Phase:
    """One step of the run on the shared bar, counted in its own bytes (``n``)."""

    def __init__(self, owner: Progress, desc: str, scale: float, reading: bool) -> None:
        self.owner = owner
        self.scale = scale
        self.reading = reading
        self.n = 0
        self.desc = desc
        self.what = ""
        self._show()

    def _show(self) -> None:
        text = f"{self.owner.label}{self.desc}" + (f" {self.what}" if self.what else "")
        self.owner.bar.set_description_str(text, refresh=False)

    def describe(self, what: str) -> None:
        """Name the input being read now."""
        if what != self.what:
            self.what = what
            self._show()

    def update(self, n: int) -> None:
        self.n += n
        units = n * self.scale
        bar = self.owner.bar
        if bar.total is not None:
            units = min(units, max(bar.total - bar.n, 0))  # rounding must not overshoot
        if self.reading:
            self.owner.read_units += units
        self.owner.bar.update(units)

    def advance_to(self, n: int) -> None:
        if n > self.n:
            self.update(n - self.n)

    def undo(self) -> None:
        """Take back what this phase counted (an input read again from its start)."""
        units = self.n * self.scale
        self.owner.bar.n = max(self.owner.bar.n - units, 0)
        if self.reading:
            self.owner.read_units -= units
        self.n = 0

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.owner.note("phase", text, refresh=refresh)

    def __enter__(self) -> Phase:
        return self

    def end(self) -> None:
        """The step is done: a log line at each step's end."""
        if self.owner.enabled:
            self.owner.bar.refresh()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.end()
