"""Framing: where records end, for any separator, in a buffer or in a stream of pieces.

A record ends one past each separator.  A multi-byte separator is matched leftmost-first
without overlaps, as ``bytes.split`` does, so ``"\\n\\n"`` in a run of three newlines ends
one record, not two.  Buffers are searched a window at a time so that a buffer of many
tiny records never needs an offsets array much larger than the records wanted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _token(sep: bytes) -> bytes:
    """Check a separator: non-empty ``bytes``.

    Anything else is refused, an int above all: ``bytes(10)`` is ten zero bytes, not a
    newline, so converting would silently frame on the wrong separator.
    """
    if not isinstance(sep, bytes):
        raise TypeError(f"the record separator must be bytes, not {type(sep).__name__}")
    if not sep:
        raise ValueError("the record separator must not be empty")
    return sep


def _starts_in(data: np.ndarray, token: bytes, lo: int, hi: int) -> np.ndarray:
    """Start offsets in ``[lo, hi)`` where all of ``token`` occurs (it may run past ``hi``)."""
    stop = min(hi, len(data) - len(token) + 1)
    if stop <= lo:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(data[lo:stop] == token[0])
    starts += lo
    for j in range(1, len(token)):
        if not len(starts):
            break
        starts = starts[data[starts + j] == token[j]]
    return starts


def _leftmost(starts: np.ndarray, width: int, allowed: int) -> np.ndarray:
    """Keep the matches a left-to-right scan takes: none before ``allowed``, none overlapping.

    Overlaps happen only for self-overlapping separators (``"\\n\\n"`` in a run of three
    newlines), so the Python loop runs over those rare clusters alone.
    """
    starts = starts[starts >= allowed]
    if len(starts) < 2 or int(np.diff(starts).min()) >= width:
        return starts
    kept = []
    for start in starts.tolist():
        if start >= allowed:
            kept.append(start)
            allowed = start + width
    return np.array(kept, dtype=np.int64)


def _ends_by_window(data: np.ndarray, token: bytes, window: int) -> Iterator[np.ndarray]:
    """Record end offsets (one past each separator), ``window`` bytes of the buffer at a time.

    A multi-byte separator is matched leftmost-first without overlaps, as ``bytes.split``
    does, and a match that straddles two windows is found in the first of them.
    """
    if len(token) == 1:
        sep = token[0]
        for lo in range(0, len(data), window):
            hits = np.flatnonzero(data[lo : lo + window] == sep)
            hits += lo + 1
            yield hits
        return
    allowed = 0
    for lo in range(0, len(data), window):
        starts = _leftmost(_starts_in(data, token, lo, lo + window), len(token), allowed)
        if len(starts):
            allowed = int(starts[-1]) + len(token)
        starts += len(token)
        yield starts


def find_ends(data: np.ndarray, sep: bytes, limit: int, window: int) -> np.ndarray:
    """Return the end offsets (one past each separator) of at most ``limit`` records.

    The buffer is searched ``window`` bytes at a time so that a buffer of many tiny
    records never produces an offsets array larger than about ``limit + window`` entries:
    this keeps framing inside the memory budget for any line-length mix.
    """
    parts: list[np.ndarray] = []
    found = 0
    for hits in _ends_by_window(data, _token(sep), window):
        if len(hits):
            parts.append(hits)
            found += len(hits)
        if found >= limit:
            break
    if not parts:
        return np.empty(0, dtype=np.int64)
    ends = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return ends[:limit].astype(np.int64, copy=False)


def count_records(data: np.ndarray, sep: bytes, window: int = 1 << 20) -> int:
    """Count separators ``window`` bytes at a time (a whole-buffer mask would double memory)."""
    token = _token(sep)
    if len(token) == 1:
        return sum(int(np.count_nonzero(data[lo : lo + window] == token[0])) for lo in range(0, len(data), window))
    return sum(len(hits) for hits in _ends_by_window(data, token, window))


def last_end(data: np.ndarray, sep: bytes, window: int = 1 << 20) -> int:
    """Where the last complete record of ``data`` ends (0 if there is none)."""
    token = _token(sep)
    if len(token) == 1:
        hits = np.flatnonzero(data == token[0])
        return int(hits[-1]) + 1 if len(hits) else 0
    end = 0
    for hits in _ends_by_window(data, token, window):
        if len(hits):
            end = int(hits[-1])
    return end


def completion(tail: bytes, sep: bytes) -> bytes:
    """The bytes that terminate an unterminated last record ``tail`` (GNU shuf adds one).

    For a multi-byte separator, a tail that already ends with the start of it is only
    completed (``"b\\n"`` + ``"\\n"`` for ``"\\n\\n"``), so re-framing the result finds the
    same records and no empty one is invented.
    """
    token = _token(sep)
    if not tail:
        return b""
    for have in range(min(len(token) - 1, len(tail)), 0, -1):
        if tail.endswith(token[:have]):
            return token[have:]
    return token


def terminator(data: np.ndarray, sep: bytes) -> bytes:
    """What to append to ``data`` so that its last record is terminated (often nothing)."""
    token = _token(sep)
    if len(data) == 0:
        return b""
    if len(token) == 1:
        return b"" if data[-1] == token[0] else token
    return completion(data[last_end(data, token) :].tobytes(), token)


class StreamFramer:
    """Record ends in a stream that arrives in pieces of any size.

    Keeps the last ``len(sep) - 1`` bytes of an unfinished record, so a multi-byte
    separator split between two pieces is found, and knows what would terminate the
    stream if it ended now (the seams between several inputs, ``--header`` lines).
    """

    def __init__(self, sep: bytes) -> None:
        self.token = _token(sep)
        self.carry = b""  # the unfinished record's last bytes (multi-byte separators)
        self.open = False  # bytes arrived since the last record end

    def feed(self, data: np.ndarray) -> np.ndarray:
        """The end offsets, within ``data``, of the records that end in it."""
        token, width = self.token, len(self.token)
        if len(data) == 0:
            return np.empty(0, dtype=np.int64)
        if width == 1:
            ends = np.flatnonzero(data == token[0])
            ends += 1
            self.open = bool(data[-1] != token[0])
            return ends
        allowed = 0
        first: list[int] = []
        if self.carry:
            at = (self.carry + data[: width - 1].tobytes()).find(token)
            if 0 <= at < len(self.carry):
                allowed = at + width - len(self.carry)
                first = [allowed]
        ends = find_ends(data[allowed:], token, len(data), 1 << 20)
        ends += allowed
        if first:
            ends = np.concatenate((np.array(first, dtype=np.int64), ends))
        if len(ends):
            self.carry = data[int(ends[-1]) :][-(width - 1) :].tobytes()
        else:
            self.carry = (self.carry + data[-(width - 1) :].tobytes())[-(width - 1) :]
        self.open = bool(len(ends) == 0 or int(ends[-1]) < len(data))
        return ends

    def terminator(self) -> bytes:
        """The bytes that would close the stream's last record (nothing if it is closed)."""
        if not self.open:
            return b""
        return self.token if len(self.token) == 1 else completion(self.carry, self.token)


def frame_into(bounds: np.ndarray, data: np.ndarray, sep: bytes, window: int) -> int:
    """Write ``[0, end_0, end_1, ...]`` of the records in ``data`` into ``bounds``.

    Used when the record count is already known (a loaded bucket), so the offsets go
    straight into their final array with only ``window`` bytes of scratch.  Returns the
    number of records found, which may be fewer than ``len(bounds) - 1`` only if the
    data is corrupt.
    """
    bounds[0] = 0
    return ends_into(bounds[1:], data, sep, window)


def ends_into(out: np.ndarray, data: np.ndarray, sep: bytes, window: int, offset: int = 0) -> int:
    """Write the records' end offsets plus ``offset`` into ``out`` (at most ``len(out)``).

    Several buckets of one group can so be framed at once, each into its own slice of
    the group's offsets.  Returns the number of records found.
    """
    found = 0
    for hits in _ends_by_window(data, _token(sep), window):
        take = min(len(hits), len(out) - found)
        np.add(hits[:take], offset, out=out[found : found + take])
        found += take
    return found
