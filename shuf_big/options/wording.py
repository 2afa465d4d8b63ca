"""Messages in the API's words: the command's option names (``--mem``, ``-n 5``) become the
parameters they stand for (``mem=``, ``head_count=5``), from the one declaration of options."""

from __future__ import annotations

import re
import shlex

from shuf_big.errors import ShufBigError
from shuf_big.options.declared import BY_NAME, OPTIONS, PHRASES

# How messages spell each option, and the API's wording of it.
API_NAMES = {option.spelled: option.api_spelling for option in OPTIONS if option.spelled is not None}
# Options with their value, worded as one parameter with its value ("--engine dask": engine='dask').
_API_PHRASES = {f"{BY_NAME[name].spelled} {shlex.quote(value)}": f"{name}={value!r}" for name, value in PHRASES}
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
