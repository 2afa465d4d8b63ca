"""Readers the inputs are built from: file objects given to the API, blank-line separated
documents as records, and a peek at an input's first bytes (its compression's magic)."""

from __future__ import annotations

import io
import os
import stat
from typing import IO

import numpy as np

from .compression import MAGIC_BYTES
from .records import PrefixedReader, RawReader, read_fully

# Paragraph normalising and header splitting work in pieces this size: their int64
# temporaries (8 bytes per byte) stay a few MiB, outside the engine's buffers.
CHUNK = 1 << 16

# An input: a path ("-" is standard input) or a readable binary file object (the Python API).
Source = str | IO[bytes]


def name_of(source: Source) -> str:
    """How messages name an input."""
    if isinstance(source, str):
        return "standard input" if source == "-" else f"'{source}'"
    name = getattr(source, "name", None)
    return f"'{name}'" if isinstance(name, str) else "the file object"


class FileObject:
    """A file object given to the API as an input: read through ``readinto`` (or ``read``), never closed."""

    def __init__(self, source: IO[bytes], what: str) -> None:
        self.source = source
        self.what = what

    def readinto(self, view: memoryview) -> int:
        readinto = getattr(self.source, "readinto", None)
        if readinto is not None:
            return readinto(view) or 0
        data = self.source.read(len(view))
        view[: len(data)] = data
        return len(data)


def hand_out(pending: bytes, view: memoryview) -> tuple[int, bytes]:
    """Copy the start of ``pending`` into ``view``: (bytes copied, what is left)."""
    n = min(len(view), len(pending))
    view[:n] = pending[:n]
    return n, pending[n:]


class Paragraphs:
    """Blank-line separated documents as records ending in exactly ``"\\n\\n"``.

    Leading newlines are dropped, every run of two or more newlines becomes one blank
    line, and the last document is closed, so ``"\\n\\n"`` frames the documents exactly.
    """

    def __init__(self, raw: RawReader) -> None:
        self.raw = raw
        self.buffer = np.empty(CHUNK, dtype=np.uint8)
        self.run = 0  # newlines at the end of what was emitted so far
        self.started = False  # some document byte was emitted
        self.pending = b""
        self.done = False

    def readinto(self, view: memoryview) -> int:
        while True:
            if self.pending:
                n, self.pending = hand_out(self.pending, view)
                return n
            if self.done:
                return 0
            got = self.raw.readinto(memoryview(self.buffer)[: min(len(view), len(self.buffer))])
            if not got:
                self.done = True
                if self.started and self.run < 2:
                    self.pending = b"\n" * (2 - self.run)
                    self.run = 2
                continue
            kept = self._normalise(self.buffer[:got])
            if len(kept):
                view[: len(kept)] = memoryview(kept)
                return len(kept)

    def _normalise(self, chunk: np.ndarray) -> np.ndarray:
        newline = chunk == 10
        count = np.cumsum(newline, dtype=np.int64)
        # newlines since the last other byte, carrying the run from the previous chunk
        last_other = np.maximum.accumulate(np.where(newline, 0, count))
        in_run = count - last_other
        first_other = int(np.argmin(newline)) if not newline.all() else len(chunk)
        in_run[:first_other] += self.run
        keep = ~newline | (in_run <= 2)
        if not self.started:
            keep[:first_other] = False
        if first_other < len(chunk):
            self.started = True
        self.run = int(in_run[-1]) if newline[-1] else 0
        return chunk[keep]


def peek(handle: io.FileIO, st: os.stat_result) -> tuple[bytes, RawReader]:
    """The first bytes of a plain input (to sniff compression), and a reader that still
    returns them: a regular file is read in place, a pipe through a prefix."""
    if stat.S_ISREG(st.st_mode):
        try:
            return os.pread(handle.fileno(), MAGIC_BYTES, handle.tell()), handle
        except OSError:
            return b"", handle
    if handle.isatty():
        return b"", handle  # typed lines: do not wait for ten bytes
    head = np.empty(MAGIC_BYTES, dtype=np.uint8)
    got = read_fully(handle, memoryview(head), "standard input" if handle.fileno() == 0 else "input")
    return head[:got].tobytes(), PrefixedReader(head[:got], handle)
