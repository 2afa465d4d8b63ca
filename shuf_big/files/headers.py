"""``--header N``: an input's first N records, and the one header every input must agree on.

The header is the first N records of the first input that has N records.  Every other
input must start with the same records (one with fewer records than that, only with the
header's first ones), else the run fails where the input is opened, in pass 1, before
anything is written: shards with another column order are never mixed silently.  The
check compares one input's first records at a time, never record by record.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from shuf_big import core
from shuf_big.errors import ShufBigError
from shuf_big.files.readers import CHUNK

# How much of a differing header record a message shows.
SHOWN = 60


def split_header(read: Callable[[memoryview], int], sep: bytes, count: int) -> tuple[bytes, bytes, int]:
    """Read the first ``count`` records with ``read``: (header, bytes read after it, header size).

    A header cut short by the end of the input is terminated like any last record (the
    returned size is then what was read, without the terminator).
    """
    framer = core.StreamFramer(sep)
    buffer = np.empty(CHUNK, dtype=np.uint8)
    head = bytearray()
    found = 0
    while True:
        got = read(memoryview(buffer))
        if not got:
            return bytes(head) + framer.terminator(), b"", len(head)
        ends = framer.feed(buffer[:got])
        if found + len(ends) >= count:
            cut = int(ends[count - found - 1])
            head += buffer[:cut].tobytes()
            return bytes(head), buffer[cut:got].tobytes(), len(head)
        found += len(ends)
        head += buffer[:got].tobytes()


def _show(record: bytes) -> str:
    """A record for a message: quoted, escaped, cut short."""
    text = record.decode("utf-8", "backslashreplace")
    if len(text) > SHOWN:
        text = text[:SHOWN] + "..."
    return json.dumps(text, ensure_ascii=False)


class Headers:
    """The header of a corpus read with ``--header count``, checked input by input.

    :meth:`offer` takes each input's first records (as :func:`split_header` returns
    them); :attr:`header` is the agreed header, final once :attr:`complete`.
    """

    def __init__(self, count: int, sep: bytes) -> None:
        self.count = count
        self.sep = sep
        self.header = b""  # the first complete head, or until then the longest short one
        self.source = ""  # the input it came from
        self.complete = False

    def offer(self, head: bytes, what: str) -> None:
        """Check the first records of input ``what`` against the header; the first input
        with ``count`` records gives the header.  An empty input has nothing to check."""
        if not head:
            return
        full = core.count_records(np.frombuffer(head, dtype=np.uint8), self.sep) >= self.count
        if self.complete:
            agrees = head == self.header if full else self.header.startswith(head)
        elif head.startswith(self.header):  # this one is at least as long: it is the header now
            agrees = True
            self.header, self.source, self.complete = head, what, full
        else:
            agrees = not full and self.header.startswith(head)
        if not agrees:
            raise ShufBigError(self._difference(head, what))

    def _difference(self, head: bytes, what: str) -> str:
        """One line saying which input differs and its first record that does."""
        mine = head.split(self.sep)
        theirs = self.header.split(self.sep)
        at = next((k for k, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), 0)
        unit = "line" if self.sep == b"\n" else "record"
        return (
            f"{what} does not start with the header of {self.source} (--header {self.count}): "
            f"{unit} {at + 1} is {_show(mine[at])}, not {_show(theirs[at])}"
        )
