"""The errors a user can act on, and the one way they are worded.

The CLI turns :class:`ShufBigError` into ``shuf-big: <message>`` and exit status 1; a
:class:`UsageError` also gets the ``Try 'shuf-big --help'`` hint, as GNU tools print it.
"""

from __future__ import annotations

import os
import re


class ShufBigError(Exception):
    """A failure the user can act on; its message is one line without the program name.

    Messages name the command's options (``--mem``); :func:`for_api` rewords them with
    the Python API's parameters (``mem=``) and keeps the original in ``cli_message``.
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


# The command's options and the API parameters they stand for, in messages.
API_NAMES = {
    "--mem": "mem=",
    "--seed": "seed=",
    "--jobs": "jobs=",
    "--header": "header=",
    "--shards": "shards=",
    "--aligned": "aligned=True",
    "--decompress": "decompress=",
    "--compress-level": "compress_level=",
    "--record-separator": "record_separator=",
    "--random-source": "random_source=",
    "--scheduler": "scheduler=",
    "--temp-url": "temp_url=",
    "--engine": "engine=",
    "--files-from": "files_from=",
    "-n": "head_count=",
    "-e": "echo=",
    "-i": "input_range=",
    "-r": "repeat=True",
    "-z": "zero_terminated=True",
    "-o": "dst",
}
# Options with their value, worded as one parameter with its value.
_API_PHRASES = {"--engine dask": "engine='dask'", "--record-separator ''": "record_separator=''"}
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])(?![\w-])( (?=[0-9]))?")


def _api_name(match: re.Match[str]) -> str:
    """An option's parameter; ``-n 5`` becomes ``head_count=5``."""
    name = API_NAMES.get(match.group(1))
    if name is None:
        return match.group(0)
    return name if name.endswith("=") else name + (match.group(2) or "")


def api_words(message: str) -> str:
    """``message`` with the command's option names replaced by the API's parameters
    (quoted text, such as file names, is left alone)."""
    for phrase, words in _API_PHRASES.items():
        message = message.replace(phrase, words)
    pieces = message.split("'")
    for at in range(0, len(pieces), 2):  # outside quotes
        pieces[at] = _OPTION.sub(_api_name, pieces[at])
    return "'".join(pieces)


def for_api(err: ShufBigError) -> ShufBigError:
    """The same error, worded for a Python caller; ``cli_message`` keeps the flags' wording."""
    worded = type(err)(api_words(str(err)))
    worded.cli_message = err.cli_message or str(err)
    return worded


def describe(err: OSError) -> str:
    """The strerror text of an OSError, as coreutils prints it."""
    return err.strerror or os.strerror(err.errno or 0) or str(err)
