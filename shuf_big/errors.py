"""The errors a user can act on, and the one way they are worded.

The CLI turns :class:`ShufBigError` into ``shuf-big: <message>`` and exit status 1; a
:class:`UsageError` also gets the ``Try 'shuf-big --help'`` hint, as GNU tools print it.
"""

from __future__ import annotations

import os


class ShufBigError(Exception):
    """A failure the user can act on; its message is one line without the program name.

    Messages name the command's options (``--mem``); :func:`shuf_big.options.wording.for_api`
    rewords them with the Python API's parameters (``mem=``) and keeps the original in
    ``cli_message``.
    """

    cli_message: str | None = None


class UsageError(ShufBigError):
    """Options that cannot be combined: the CLI adds the ``--help`` hint, as GNU shuf does."""


class RecordTooLarge(ShufBigError):
    """A record longer than the run can take.  ``index`` is its number in the whole stream
    (from 0) and ``size`` its bytes: the engine, which knows the inputs and the plan, words
    the message the user sees (which input, which line, which ``--mem`` would do)."""

    def __init__(self, message: str, index: int = 0, size: int = 0) -> None:
        super().__init__(message)
        self.index = index
        self.size = size


class CompressedInputWarning(UserWarning):
    """An input starts with a compression format's magic bytes but is read as it is."""


class MemoryLimitWarning(UserWarning):
    """An explicit ``--mem`` above the memory this process may use (cgroup limit, rlimit, RAM)."""


class RamTempWarning(UserWarning):
    """Temp files go to a RAM-backed directory (tmpfs, ramfs): they take memory beyond ``--mem``."""


class TempCompressionNotice(UserWarning):
    """``--compress-temp auto`` compresses this run's temp files: their directories lack the
    space a plain run needs (a notice, not a fault: the run goes on)."""


def describe(err: OSError) -> str:
    """The strerror text of an OSError, as coreutils prints it."""
    return err.strerror or os.strerror(err.errno or 0) or str(err)


def missing_extra(needs: str, extra: str) -> ShufBigError:
    """The one-line error for a feature whose optional dependencies are not installed:
    ``needs`` says what it needs, and the hint how to install ``extra``."""
    return ShufBigError(f"{needs}: pip install 'shuf-big[{extra}]' (from a clone: pip install '.[{extra}]')")
