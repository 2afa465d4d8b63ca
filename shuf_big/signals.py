"""Signals: SIGINT, SIGTERM and SIGHUP become an exception, so cleanup runs before dying.

The CLI installs the handlers; code that creates a temp path holds signals meanwhile
(:func:`deferred_signals`) so the path is always recorded for cleanup.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Interrupted(BaseException):
    """Raised in the main thread for SIGINT, SIGTERM or SIGHUP, so cleanup runs first."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_held: list[int] = []  # signals that arrived inside deferred_signals()


_depth = 0


def _on_signal(signum: int, _frame: object) -> None:
    if _depth:
        _held.append(signum)
    else:
        raise Interrupted(signum)


def install_signal_handlers() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` (CLI use).

    A signal that was ignored when the process started stays ignored, as in coreutils:
    ``nohup`` ignores SIGHUP, and a shell without job control starts background commands
    with SIGINT ignored.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _on_signal)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold interrupts while a temp path is created and recorded for cleanup.

    Otherwise a signal landing between ``mkstemp`` returning and the path being stored
    would leave the file behind.  A signal mask cannot do this: the kernel hands a
    blocked process signal to another thread (numpy's BLAS threads), and Python then runs
    the handler in the main thread anyway.  A held signal is raised on leaving.
    """
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _held:
            signum = _held[0]
            _held.clear()
            raise Interrupted(signum)
