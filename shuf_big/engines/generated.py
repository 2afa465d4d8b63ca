"""Records that no file holds: GNU shuf's ``-e`` operands and ``-i LO-HI`` numbers, as streams."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuf_big import core
from shuf_big.files.protocol import OneInput


class Generated(OneInput):
    """The reader protocol for records no file holds: named ``what`` in messages, but no
    input for the progress bar to name, none on disk, and made again on a rewind."""

    current_what = ""
    disk_size = None
    rewindable = True

    def consumed(self) -> int:
        return 0


class BytesReader(Generated):
    """A reader over bytes already in memory (the ``-e`` operands)."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = memoryview(data)
        self.what = what
        self.offset = 0

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self.data) - self.offset)
        buffer[:n] = self.data[self.offset : self.offset + n]
        self.offset += n
        return n

    def rewind(self) -> None:
        self.offset = 0


class RangeReader(Generated):
    """The text of the numbers ``lo..hi``, one per record, generated ``chunk`` at a time."""

    def __init__(self, lo: int, hi: int, sep: bytes, chunk: int) -> None:
        self.lo, self.hi, self.sep, self.chunk = lo, hi, sep, chunk
        self.what = f"-i {lo}-{hi}"
        self.size = core.decimal_bytes(lo, hi)
        self.rewind()

    def rewind(self) -> None:
        self.next = self.lo
        self.pending = np.empty(0, dtype=np.uint8)
        self.used = 0

    def readinto(self, buffer: memoryview) -> int:
        out = np.frombuffer(buffer, dtype=np.uint8)
        filled = 0
        while filled < len(out):
            if self.used == len(self.pending):
                if self.next > self.hi:
                    break
                count = min(self.chunk, self.hi - self.next + 1)
                values = np.arange(count, dtype=np.uint64)
                values += np.uint64(self.next)
                self.pending = core.format_decimal(values, self.sep)
                self.used = 0
                self.next += count
            n = min(len(out) - filled, len(self.pending) - self.used)
            out[filled : filled + n] = self.pending[self.used : self.used + n]
            filled += n
            self.used += n
        return filled


def echo_input(operands: Sequence[bytes], sep: bytes) -> bytes:
    """The ``-e`` operands as one input: each operand a record ended by ``sep``."""
    return b"".join(op + sep for op in operands)
