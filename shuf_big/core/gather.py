"""Gathering: copy records scattered over a buffer back to back, fast for any length mix.

Scatter (pass 1) and ordering (pass 2) both end in "these records, in this order".  Long
records are cheapest as slices (one memcpy each); short ones as one fancy-indexed numpy
copy of many at once.  Work goes in runs of about ``piece`` output bytes so that the
scratch arrays stay small and in cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

# Records at least this long on average are moved as slices (memcpy) rather than by a
# per-byte numpy gather: ~0.3 us per slice beats ~3 ns per gathered byte above ~128 bytes.
SLICE_COPY_MIN_AVERAGE = 192
# Below this many records per distinct length, per-class overhead beats its gain.
MIN_RECORDS_PER_LENGTH_CLASS = 16


def segments(lengths: np.ndarray, piece: int) -> Iterator[tuple[int, int, int, int]]:
    """Cut records into consecutive runs of about ``piece`` bytes: ``(i, j, offset, size)``.

    Runs are the unit of work of every gather, so that scratch arrays stay about ``piece``
    bytes.  A record longer than ``piece`` is a run of its own.
    """
    cum = np.cumsum(lengths)
    n = len(lengths)
    i = 0
    done = 0
    while i < n:
        j = max(int(np.searchsorted(cum, done + piece, side="right")), i + 1)
        size = int(cum[j - 1]) - done
        yield i, j, done, size
        done += size
        i = j


_ARANGE = np.arange(0, dtype=np.int64)


def _arange(size: int) -> np.ndarray:
    """A cached ``np.arange(size)``: rebuilding it for every piece cost a third of the gather."""
    global _ARANGE
    if len(_ARANGE) < size:
        _ARANGE = np.arange(max(size, 2 * len(_ARANGE)), dtype=np.int64)
    return _ARANGE[:size]


def gather_into(out: np.ndarray, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, piece: int) -> None:
    """Copy the records ``data[starts[k]:starts[k] + lengths[k]]`` back to back into ``out``.

    Works in runs of about ``piece`` output bytes.  Long records are copied as slices;
    short ones move many at a time, grouped by length (see :func:`_gather_by_length`),
    or through a per-byte ``np.repeat`` index when lengths are too varied for that.
    """
    if len(out) != int(lengths.sum()):
        raise ValueError("output size does not match the records")
    for i, j, offset, size in segments(lengths, piece):
        if _long_run(size, j - i):
            target = out.data
            source = data.data
            for start, length in zip(starts[i:j].tolist(), lengths[i:j].tolist(), strict=True):
                target[offset : offset + length] = source[start : start + length]
                offset += length
            continue
        lens = lengths[i:j]
        dst = np.cumsum(lens)
        dst -= lens
        _gather_windows(out[offset : offset + size], data, starts[i:j], lens, dst, piece)


def _long_run(size: int, count: int) -> bool:
    """Whether a run of ``count`` records and ``size`` bytes is cheaper moved as slices."""
    return size >= SLICE_COPY_MIN_AVERAGE * count


def ordered_parts(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, piece: int) -> list[memoryview]:
    """These records in this order as output parts, ready for one vectored write.

    Runs of short records are gathered into one new buffer (a view of it per run); long
    records are views of ``data`` itself, never copied.  Joined, the parts are the records
    ``data[starts[k]:starts[k] + lengths[k]]`` back to back.
    """
    runs = [(i, j, size, not _long_run(size, j - i)) for i, j, _, size in segments(lengths, piece)]
    buffer = np.empty(sum(size for _, _, size, short in runs if short), dtype=np.uint8)
    gathered = buffer.data
    source = data.data
    parts: list[memoryview] = []
    at = 0
    for i, j, size, short in runs:
        if short:
            gather_into(buffer[at : at + size], data, starts[i:j], lengths[i:j], piece)
            parts.append(gathered[at : at + size])
            at += size
        else:
            parts.extend(
                source[start : start + length]
                for start, length in zip(starts[i:j].tolist(), lengths[i:j].tolist(), strict=True)
            )
    return parts


# Records gathered a few at a time are cheaper as slices than through numpy calls.
_FEW = 64


def _gather_windows(
    out: np.ndarray, data: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray, piece: int
) -> None:
    """Move short records with one fancy-indexed copy of ``width`` bytes each.

    ``dst`` ascends, and numpy assigns a 1-d fancy index in order, so each record's
    window overwrites the overshoot of the one before it: the records come out back to
    back, although every copy is ``width`` bytes (the longest record's length, capped at
    4x the average so the scratch stays small).  About 3x faster than moving one length
    class at a time.  Records longer than ``width``, or whose window would run past the
    end of ``data`` or ``out``, are copied exactly afterwards.
    """
    n = len(lens)
    if n == 0:
        return
    width = window_width(int(lens.max()), len(out), n)
    fits = (lens <= width) & (starts <= len(data) - width) & (dst <= len(out) - width)
    if fits.all():
        copy_windows(out, data, starts, dst, width, piece)
        return
    if width and len(out) >= width and len(data) >= width:
        picked = np.flatnonzero(fits)
        copy_windows(out, data, starts[picked], dst[picked], width, piece)
    rest = np.flatnonzero(~fits)
    copy_exactly(out, data, starts[rest], lens[rest], dst[rest])


def window_width(longest: int, size: int, count: int) -> int:
    """The window of a fixed-width copy of ``count`` records of ``size`` bytes: the
    longest record, capped at 4x the average or :data:`MIN_WINDOW_CAP` (the longer ones
    are copied exactly).  A wider window costs little (the per-record overhead of numpy
    dominates), while every exactly-copied record costs a mask and a gather more."""
    return max(min(longest, max(4 * size // max(count, 1), MIN_WINDOW_CAP)), 1)


# Windows may always be this wide, whatever the average: scratch is bounded by chunking.
MIN_WINDOW_CAP = 128


# A window copy moves at most this many bytes per numpy call (its temporary), so that
# the temporary stays in the cache; less when the piece is smaller.
WINDOW_CHUNK_BYTES = 1 << 18


def copy_windows(
    out: np.ndarray, data: np.ndarray, starts: np.ndarray, dst: np.ndarray, width: int, piece: int
) -> None:
    """Copy ``width`` bytes from each ``data[starts[k]:]`` to ``out[dst[k]:]``, in order.

    The caller guarantees that every window lies inside ``data`` and ``out``, and that
    whatever a window writes past its record's end is overwritten later (by the next
    record in ``out``, which comes later here, or by an exact copy afterwards).  The
    temporary of each numpy call is at most ``piece`` bytes (and 256 KiB).
    """
    source = _fixed_width(data, width)
    target = _fixed_width(out, width)
    step = max(min(WINDOW_CHUNK_BYTES, piece) // max(width, 1), 16)
    for lo in range(0, len(starts), step):
        target[dst[lo : lo + step]] = source[starts[lo : lo + step]]


def copy_exactly(out: np.ndarray, data: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray) -> None:
    """Copy records to any positions of ``out``, byte-exact (nothing written past them).

    Few or long records go as slices; many short ones by length class or through a
    per-byte index, in runs of bounded scratch.
    """
    if len(lens) <= _FEW:
        _copy_slices(out, data, starts, lens, dst)
        return
    long = lens >= SLICE_COPY_MIN_AVERAGE
    if long.any():
        picked = np.flatnonzero(long)
        _copy_slices(out, data, starts[picked], lens[picked], dst[picked])
        short = np.flatnonzero(~long)
        starts, lens, dst = starts[short], lens[short], dst[short]
    if _gather_by_length(out, data, starts, lens, dst):
        return
    step = max(_EXACT_SCRATCH // SLICE_COPY_MIN_AVERAGE, 1)
    for lo in range(0, len(lens), step):
        ls = lens[lo : lo + step]
        within = _arange(int(ls.sum())) - np.repeat(np.cumsum(ls) - ls, ls)  # byte k of its record
        out[np.repeat(dst[lo : lo + step], ls) + within] = data[np.repeat(starts[lo : lo + step], ls) + within]


# Bytes a per-byte index run of copy_exactly covers (its scratch is ~24 bytes per byte).
_EXACT_SCRATCH = 1 << 16


def _copy_slices(out: np.ndarray, data: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray) -> None:
    """One slice copy (memcpy) per record: cheapest for a few records or long ones."""
    target = out.data
    source = data.data
    for at, start, length in zip(dst.tolist(), starts.tolist(), lens.tolist(), strict=True):
        target[at : at + length] = source[start : start + length]


def _fixed_width(buffer: np.ndarray, width: int) -> np.ndarray:
    """Every ``width``-byte window of ``buffer`` as one element: item k is bytes k..k+width."""
    return np.ndarray(buffer=buffer, dtype=f"V{width}", shape=(len(buffer) - width + 1,), strides=(1,))


def _gather_by_length(out: np.ndarray, data: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray) -> bool:
    """Move short records one length class at a time; False if the lengths vary too much.

    Records of equal length L are fixed-size items once ``data`` and ``out`` are viewed as
    overlapping L-byte windows, so one fancy-indexed assignment copies the whole class.
    That is 2-2.5x faster than a per-byte gather for lines under ~200 bytes.
    """
    if len(lens) == 0:
        return True
    if int(lens.max()) >= 1 << 16:
        return False
    order = np.argsort(lens.astype(np.uint16), kind="stable")
    sorted_lens = lens[order]
    cuts = np.flatnonzero(sorted_lens[1:] != sorted_lens[:-1]) + 1
    if len(cuts) * MIN_RECORDS_PER_LENGTH_CLASS > len(lens):
        return False
    sources = starts[order]
    targets = dst[order]
    bounds = [0, *cuts.tolist(), len(lens)]
    for lo, hi in itertools.pairwise(bounds):
        width = int(sorted_lens[lo])
        if width:
            _fixed_width(out, width)[targets[lo:hi]] = _fixed_width(data, width)[sources[lo:hi]]
    return True
