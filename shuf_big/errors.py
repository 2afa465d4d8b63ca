"""The one exception type the CLI turns into ``shuf-big: <message>`` and exit status 1."""


class ShufBigError(Exception):
    """A failure the user can act on; its message is one line without the program name."""
