"""Signals: SIGINT, SIGTERM and SIGHUP become an exception, so cleanup runs before dying.

The CLI installs the handlers; code that creates a temp path holds signals meanwhile
(:func:`deferred_signals`) so the path is always recorded for cleanup.  Named phases of a
run can stop the process for tests that kill it there (:func:`checkpoint`).
"""

from __future__ import annotations

import contextlib
import os
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


# A test hook: the phase at which the process stops itself (see checkpoint()).
STOP_ENV = "SHUF_BIG_STOP_AT"
_stopped: set[str] = set()


def checkpoint(phase: str) -> None:
    """With ``SHUF_BIG_STOP_AT=<phase>`` set, stop this process (SIGSTOP) the first time
    it reaches ``phase``, so that a test can kill it at exactly that moment.

    Phases: "pass 1 started", "pass 1 done", "bucket split", "pass 2 started",
    "shards written", "shard committed".
    """
    if os.environ.get(STOP_ENV) == phase and phase not in _stopped:
        _stopped.add(phase)
        os.kill(os.getpid(), signal.SIGSTOP)
