"""Records from byte streams: batches of whole records in bounded buffers, long records
streamed, global indices from a counter or a bucket's gap file."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shuf_big import core
from shuf_big.budget.sizes import format_size
from shuf_big.errors import RecordTooLarge, ShufBigError, describe


class RawReader(Protocol):
    """Bytes read into a buffer: all that framing records needs (temp files and a task's
    storage handles are read this way too)."""

    def readinto(self, buffer: memoryview) -> int | None: ...


def read_fully(raw: RawReader, view: memoryview, what: str) -> int:
    """Fill ``view`` from ``raw`` until it is full or the input ends; return bytes read."""
    filled = 0
    size = len(view)
    while filled < size:
        try:
            got = raw.readinto(view[filled:])
        except OSError as err:
            raise ShufBigError(f"read error on {what}: {describe(err)}") from None
        if not got:
            break
        filled += got
    return filled


def pread_fully(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``fd`` at ``offset`` without moving the file position; returns
    the bytes read (fewer only at the end of the file)."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if not n:
            break
        got += n
    return got


@dataclass
class Batch:
    """Complete records: ``data[:ends[-1]]``, record k ending at ``ends[k]``."""

    data: np.ndarray
    ends: np.ndarray
    indices: np.ndarray


@dataclass
class Span:
    """Complete records ``data[:size]``, ``count`` of them, the first with global index
    ``first``: a batch not framed yet (whoever scatters it frames it, on its own thread)."""

    data: np.ndarray
    size: int
    count: int
    first: int


@dataclass
class LongRecord:
    """A record too long for the read buffer; its bytes come from ``parts``.

    ``parts`` must be consumed before the reader moves on.  The last part ends with the
    separator (added if the input's last record lacked one).
    """

    index: int
    parts: Iterator[memoryview]


# Bytes counted at a time when a span of records is cut (spans).
CUT_WINDOW = 1 << 18


class RecordReader:
    """Split a byte stream into batches of whole records within fixed memory bounds.

    A batch holds at most ``buffer_size`` bytes and ``max_records`` records; a record
    that does not fit in the buffer is handed out as a :class:`LongRecord` stream.
    ``take_indices(n)`` supplies the global indices of the next ``n`` records.
    """

    def __init__(
        self,
        raw: RawReader,
        sep: bytes,
        buffer_size: int,
        max_records: int,
        take_indices: Callable[[int], np.ndarray],
        what: str,
    ) -> None:
        self.raw = raw
        self.sep = sep
        self.buffer = np.empty(buffer_size, dtype=np.uint8)
        self.view = memoryview(self.buffer)
        self.max_records = max_records
        self.take_indices = take_indices
        self.what = what
        self.filled = 0
        self.eof = False
        self.bytes_read = 0

    def _fill(self) -> None:
        if not self.eof and self.filled < len(self.buffer):
            got = read_fully(self.raw, self.view[self.filled :], self.what)
            self.bytes_read += got
            self.filled += got
            if self.filled < len(self.buffer):
                self.eof = True

    def _keep_tail(self, start: int) -> None:
        """Move ``buffer[start:filled]`` to the front (memmove: the ranges may overlap)."""
        rest = self.filled - start
        if rest and start:
            base = self.buffer.ctypes.data
            ctypes.memmove(base, base + start, rest)
        self.filled = rest

    def _refill(self, start: int) -> bool:
        """Drop the ``start`` bytes already handed out and read on; False at the end."""
        if start:
            self._keep_tail(start)
        self._fill()
        return self.filled > 0

    def __iter__(self) -> Iterator[Batch | LongRecord]:
        window = max(self.max_records, 4096)
        start = 0  # bytes at the front of the buffer already handed out
        while True:
            if not self._refill(start):
                return
            start = 0
            ends = core.find_ends(self.buffer[: self.filled], self.sep, self.max_records, window)
            if len(ends):
                # Batches cut by the record limit (short lines): hand out the rest of the
                # buffer before moving its tail to the front, so no byte is moved twice.
                while len(ends):
                    yield Batch(self.buffer[start:], ends, self.take_indices(len(ends)))
                    start += int(ends[-1])
                    if len(ends) < self.max_records:
                        break
                    ends = core.find_ends(self.buffer[start : self.filled], self.sep, self.max_records, window)
            else:
                yield from self._without_record_end()

    def spans(self, counter: Counter, window: int = CUT_WINDOW) -> Iterator[Span | LongRecord]:
        """The batches as :class:`Span` s: records counted, not framed, so that framing
        (the costliest step of reading short lines) runs where the batch is scattered.
        For a one-byte separator only; global indices come from ``counter``; records are
        counted ``window`` bytes at a time."""
        if len(self.sep) != 1:
            raise ValueError("spans need a one-byte separator")
        start = 0
        while True:
            if not self._refill(start):
                return
            start = 0
            size, count = self._cut(0, window)
            if count:
                while count:  # as in __iter__: hand out the rest of the buffer first
                    yield Span(self.buffer[start:], size, count, counter.skip(count))
                    start += size
                    if count < self.max_records:
                        break
                    size, count = self._cut(start, window)
            else:
                yield from self._without_record_end(counter)

    def _cut(self, start: int, window: int) -> tuple[int, int]:
        """Bytes and count of at most ``max_records`` complete records from ``start``,
        counted a window at a time; only a small part where the limit falls is framed."""
        sep = self.sep[0]
        data = self.buffer[start : self.filled]
        step = max(window // 16, 1)
        total = 0
        last = -1  # the last window holding a record end
        for lo in range(0, len(data), window):
            found = int(np.count_nonzero(data[lo : lo + window] == sep))
            if total + found >= self.max_records:
                for at in range(lo, lo + window, step):  # the limit's sixteenth
                    hits = np.flatnonzero(data[at : at + step] == sep)
                    if total + len(hits) >= self.max_records:
                        return at + int(hits[self.max_records - total - 1]) + 1, self.max_records
                    total += len(hits)
            if found:
                last = lo
            total += found
        if not total:
            return 0, 0
        return last + data[last : last + window].tobytes().rfind(self.sep) + 1, total

    def _without_record_end(self, counter: Counter | None = None) -> Iterator[LongRecord]:
        """The buffer holds no complete record: terminate a last one, or stream a long one."""
        if self.eof and self.filled + len(self.sep) <= len(self.buffer):
            # A last record without terminator gets one, as with GNU shuf.
            end = core.completion(self.view[max(self.filled - len(self.sep), 0) : self.filled].tobytes(), self.sep)
            self.buffer[self.filled : self.filled + len(end)] = np.frombuffer(end, dtype=np.uint8)
            self.filled += len(end)
        else:
            index = counter.skip(1) if counter is not None else int(self.take_indices(1)[0])
            yield LongRecord(index, self._long_parts())

    def _long_parts(self) -> Iterator[memoryview]:
        """Stream a record that fills the whole buffer, up to and including its separator.

        The last ``len(sep) - 1`` bytes stay in the buffer between refills, so that a
        multi-byte separator split across two reads is still found.
        """
        keep = len(self.sep) - 1
        while True:
            hits = core.find_ends(self.buffer[: self.filled], self.sep, 1, max(self.filled, 1))
            if len(hits):
                end = int(hits[0])
                yield self.view[:end]
                self._keep_tail(end)
                return
            if self.eof:
                tail = self.view[: self.filled].tobytes()
                yield memoryview(tail + (core.completion(tail, self.sep) if tail else self.sep))
                self.filled = 0
                return
            if self.filled > keep:
                yield self.view[: self.filled - keep]
                self._keep_tail(self.filled - keep)
            self._fill()


class IndexStream:
    """Global record indices decoded lazily from a bucket's gap file."""

    def __init__(self, raw: RawReader, chunk: int, what: str) -> None:
        self.raw = raw
        self.decoder = core.GapDecoder()
        self.queue = np.empty(0, dtype=np.int64)
        self.chunk = np.empty(chunk, dtype=np.uint16)
        self.what = what

    def take(self, n: int) -> np.ndarray:
        while len(self.queue) < n:
            got = read_fully(self.raw, memoryview(self.chunk).cast("B"), self.what)
            if got == 0:
                raise ShufBigError(f"temporary file {self.what} is truncated")
            fresh = self.decoder.feed(self.chunk[: got // 2])
            self.queue = np.concatenate((self.queue, fresh))
        taken, self.queue = self.queue[:n], self.queue[n:]
        return taken


class Counter:
    """Global indices for records read straight from the input: 0, 1, 2, ..."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out

    def skip(self, n: int) -> int:
        """Take ``n`` indices without making them: returns the first."""
        first = self.next
        self.next += n
        return first


def parts_within(record: LongRecord, limit: int) -> Iterator[memoryview]:
    """A long record's parts; past ``limit`` bytes, read to its end and fail with its size
    (:class:`RecordTooLarge`, which the engine rewords with the input and line)."""
    size = 0
    for part in record.parts:
        size += len(part)
        if size > limit:
            size += sum(len(p) for p in record.parts)
            raise RecordTooLarge(
                f"record {record.index + 1} is {size} bytes ({format_size(size)}), "
                f"larger than the memory budget --mem {format_size(limit)}",
                record.index,
                size,
            )
        yield part
