"""The errors a user can act on, and the one way they are worded.

The CLI turns :class:`ShufBigError` into ``shuf-big: <message>`` and exit status 1; a
:class:`UsageError` also gets the ``Try 'shuf-big --help'`` hint, as GNU tools print it.
"""

from __future__ import annotations

import os


class ShufBigError(Exception):
    """A failure the user can act on; its message is one line without the program name."""


class UsageError(ShufBigError):
    """Options that cannot be combined: the CLI adds the ``--help`` hint, as GNU shuf does."""


class CompressedInputWarning(UserWarning):
    """An input starts with a compression format's magic bytes but is read as it is."""


def describe(err: OSError) -> str:
    """The strerror text of an OSError, as coreutils prints it."""
    return err.strerror or os.strerror(err.errno or 0) or str(err)
