"""The pure core of shuf-big: frame records, draw keys, scatter a batch, order a group.

Everything here works on whole numpy arrays and does no I/O, so the local engine, the CLI
and any later engine share one definition of the shuffle:

    output order = records sorted by ``key(seed, i)``, ``i`` the record's global index.

``key`` is a bijection of ``i`` for a fixed seed, so keys never tie and the order is a
strict total order that does not depend on memory, bucket layout or worker count.  A
bucket is the set of records whose key starts with a given bit prefix; splitting a bucket
further just looks at the next bits, with no new randomness.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

MASK64 = (1 << 64) - 1
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U64_M1 = np.uint64(_M1)
_U64_M2 = np.uint64(_M2)
# Keys are computed in slices this long so temporaries stay in the CPU cache.
_KEY_SLICE = 1 << 14
# An escape in the index-gap stream: "add 65535 and keep reading".
GAP_ESCAPE = 0xFFFF


def _mix64_int(x: int) -> int:
    """SplitMix64's finaliser on a Python int (used only to derive per-seed constants)."""
    x &= MASK64
    x ^= x >> 30
    x = (x * _M1) & MASK64
    x ^= x >> 27
    x = (x * _M2) & MASK64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class KeySpec:
    """The per-seed constants of ``key(seed, i) = mix64(i * gamma + offset)``.

    ``gamma`` is odd, so ``i -> i * gamma + offset`` is a bijection of 64-bit integers, and
    so is the mixer: distinct records never share a key.  A seed-dependent gamma (chosen as
    SplittableRandom does, with enough bit transitions) keeps different seeds' streams from
    being shifted copies of each other.
    """

    seed: int
    gamma: int
    offset: int

    @classmethod
    def from_seed(cls, seed: int) -> KeySpec:
        if not 0 <= seed <= MASK64:
            raise ValueError(f"seed must be in 0..{MASK64}, got {seed}")
        gamma = _mix64_int(seed ^ 0x9E3779B97F4A7C15) | 1
        if bin(gamma ^ (gamma >> 1)).count("1") < 24:
            gamma ^= 0xAAAAAAAAAAAAAAAA
        offset = _mix64_int(_mix64_int(seed + 0x632BE59BD9B4E019))
        return cls(seed, gamma, offset)


def draw_keys(spec: KeySpec, indices: np.ndarray) -> np.ndarray:
    """Return the uint64 keys of the records with these global indices.

    The key of record ``i`` depends only on the seed and ``i``: this is what makes the
    output identical for any ``--mem``, bucket count or number of workers.
    """
    keys = np.asarray(indices).astype(np.uint64, copy=True)
    gamma = np.uint64(spec.gamma)
    offset = np.uint64(spec.offset)
    tmp = np.empty(min(len(keys), _KEY_SLICE), dtype=np.uint64)
    for lo in range(0, len(keys), _KEY_SLICE):
        x = keys[lo : lo + _KEY_SLICE]
        t = tmp[: len(x)]
        x *= gamma
        x += offset
        np.right_shift(x, 30, out=t)
        x ^= t
        x *= _U64_M1
        np.right_shift(x, 27, out=t)
        x ^= t
        x *= _U64_M2
        np.right_shift(x, 31, out=t)
        x ^= t
    return keys


Sep = int | bytes


def _token(sep: Sep) -> bytes:
    """A separator as bytes: an int is one byte value (``10`` is newline)."""
    token = bytes([sep]) if isinstance(sep, int) else bytes(sep)
    if not token:
        raise ValueError("the record separator must not be empty")
    return token


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


def find_ends(data: np.ndarray, sep: Sep, limit: int, window: int) -> np.ndarray:
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


def count_records(data: np.ndarray, sep: Sep, window: int = 1 << 20) -> int:
    """Count separators ``window`` bytes at a time (a whole-buffer mask would double memory)."""
    token = _token(sep)
    if len(token) == 1:
        return sum(int(np.count_nonzero(data[lo : lo + window] == token[0])) for lo in range(0, len(data), window))
    return sum(len(hits) for hits in _ends_by_window(data, token, window))


def last_end(data: np.ndarray, sep: Sep, window: int = 1 << 20) -> int:
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


def completion(tail: bytes, sep: Sep) -> bytes:
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


def terminator(data: np.ndarray, sep: Sep) -> bytes:
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

    def __init__(self, sep: Sep) -> None:
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


def frame_into(bounds: np.ndarray, data: np.ndarray, sep: Sep, window: int) -> int:
    """Write ``[0, end_0, end_1, ...]`` of the records in ``data`` into ``bounds``.

    Used when the record count is already known (a loaded bucket), so the offsets go
    straight into their final array with only ``window`` bytes of scratch.  Returns the
    number of records found, which may be fewer than ``len(bounds) - 1`` only if the
    data is corrupt.
    """
    bounds[0] = 0
    return ends_into(bounds[1:], data, sep, window)


def ends_into(out: np.ndarray, data: np.ndarray, sep: Sep, window: int, offset: int = 0) -> int:
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


def bucket_ids(keys: np.ndarray, prefix_bits: int, fanout_bits: int) -> np.ndarray:
    """Return, for each key, the index of its bucket among ``2**fanout_bits``.

    The bucket is given by the ``fanout_bits`` key bits just below the ``prefix_bits``
    already fixed by the parent bucket, so buckets are ordered like their keys.
    """
    if fanout_bits == 0:
        return np.zeros(len(keys), dtype=np.uint16)
    if not 0 < fanout_bits <= 16 or prefix_bits + fanout_bits > 64:
        raise ValueError("bad bucket geometry")
    shifted = np.left_shift(keys, np.uint64(prefix_bits)) if prefix_bits else keys
    return np.right_shift(shifted, np.uint64(64 - fanout_bits)).astype(np.uint16)


def encode_gaps(indices: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Encode ascending record indices as uint16 gaps from each one's predecessor.

    ``previous`` holds, per record, the index of the record before it in the same bucket
    (-1 for the first).  A gap ``g`` is stored as ``g // 65535`` escapes followed by
    ``g % 65535``; gaps are about the bucket count, so nearly every record costs 2 bytes
    of temp space instead of the 8 a stored key would.
    """
    gaps = indices - previous
    escapes = gaps // GAP_ESCAPE
    if not escapes.any():
        return gaps.astype(np.uint16)
    out = np.full(len(gaps) + int(escapes.sum()), GAP_ESCAPE, dtype=np.uint16)
    out[np.cumsum(escapes + 1) - 1] = gaps % GAP_ESCAPE
    return out


class GapDecoder:
    """Turn a stream of encoded gaps, fed in pieces of any size, back into indices."""

    def __init__(self) -> None:
        self.last = -1  # index of the last decoded record
        self.pending = 0  # escapes seen since then, already multiplied out

    def feed(self, values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.empty(0, dtype=np.int64)
        running = np.cumsum(values, dtype=np.int64)
        running += self.last + self.pending
        final = values != GAP_ESCAPE
        indices = running[final]
        if len(indices):
            self.last = int(indices[-1])
            self.pending = int(running[-1]) - self.last
        else:
            self.pending = int(running[-1]) - self.last
        return indices


def decode_gaps(values: np.ndarray) -> np.ndarray:
    """Decode one whole bucket's gap stream into its record indices."""
    return GapDecoder().feed(values)


def partition(ids: np.ndarray, nbuckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a stable order grouping records by bucket id, and the bucket bounds.

    ``order[bounds[b]:bounds[b + 1]]`` are bucket ``b``'s records in input order.  A stable
    argsort of uint16 is a radix sort in numpy: a few ns per record.
    """
    order = np.argsort(ids, kind="stable")
    bounds = np.zeros(nbuckets + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=nbuckets), out=bounds[1:])
    return order, bounds


# Records at least this long on average are moved as slices (memcpy) rather than by a
# per-byte numpy gather: ~0.3 us per slice beats ~3 ns per gathered byte above ~128 bytes.
SLICE_COPY_MIN_AVERAGE = 192
# Below this many records per distinct length, per-class overhead beats its gain.
MIN_RECORDS_PER_LENGTH_CLASS = 16
# Sub-buckets of a group are sorted one at a time; this many records fit the CPU cache.
SUB_BUCKET_RECORDS = 32768


def _segments(lengths: np.ndarray, piece: int) -> Iterator[tuple[int, int, int, int]]:
    """Cut records into consecutive runs of about ``piece`` bytes: ``(i, j, offset, size)``.

    A record longer than ``piece`` is a run of its own.
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
    for i, j, offset, size in _segments(lengths, piece):
        if size >= SLICE_COPY_MIN_AVERAGE * (j - i):
            target = memoryview(out)
            source = memoryview(data)
            for start, length in zip(starts[i:j].tolist(), lengths[i:j].tolist(), strict=True):
                target[offset : offset + length] = source[start : start + length]
                offset += length
            continue
        lens = lengths[i:j]
        dst = np.cumsum(lens)
        dst -= lens
        _gather_windows(out[offset : offset + size], data, starts[i:j], lens, dst)


# Records gathered a few at a time are cheaper as slices than through numpy calls.
_FEW = 64


def _gather_windows(out: np.ndarray, data: np.ndarray, starts: np.ndarray, lens: np.ndarray, dst: np.ndarray) -> None:
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
    width = min(int(lens.max()), max(4 * len(out) // n, 8))
    fits = (lens <= width) & (starts <= len(data) - width) & (dst <= len(out) - width)
    if fits.all():
        _fixed_width(out, width)[dst] = _fixed_width(data, width)[starts]
        return
    if width and len(out) >= width and len(data) >= width:
        picked = np.flatnonzero(fits)
        _fixed_width(out, width)[dst[picked]] = _fixed_width(data, width)[starts[picked]]
    rest = np.flatnonzero(~fits)
    if len(rest) <= _FEW:
        target = memoryview(out)
        source = memoryview(data)
        for at, start, length in zip(dst[rest].tolist(), starts[rest].tolist(), lens[rest].tolist(), strict=True):
            target[at : at + length] = source[start : start + length]
    elif not _gather_by_length(out, data, starts[rest], lens[rest], dst[rest]):
        lens = lens[rest]
        within = _arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)  # byte k of its record
        out[np.repeat(dst[rest], lens) + within] = data[np.repeat(starts[rest], lens) + within]


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


def sub_bucket_ids(keys: np.ndarray, nbytes: int, target_records: int, target_bytes: int) -> tuple[np.ndarray, int]:
    """Split a group of keys into cache-sized sub-buckets by their leading bits.

    Returns uint16 ids (ordered like the keys) and the sub-bucket count.  Sorting a whole
    multi-million-record group at once is bound by cache misses; sorting ~32 K records at
    a time is not.
    """
    n = len(keys)
    want = max(n // max(target_records, 1), nbytes // max(target_bytes, 1), 1)
    if want <= 1 or n < 2:
        return np.zeros(n, dtype=np.uint16), 1
    lo = int(keys.min())
    span = int(keys.max()) - lo
    bits = min(want.bit_length(), 16)
    shift = np.uint64(max(span.bit_length() - bits, 0))
    ids = np.empty(n, dtype=np.uint16)
    scratch = np.empty(min(n, _KEY_SLICE), dtype=np.uint64)
    for at in range(0, n, _KEY_SLICE):  # in cache-sized slices: no group-sized temporaries
        part = scratch[: min(_KEY_SLICE, n - at)]
        np.subtract(keys[at : at + len(part)], np.uint64(lo), out=part)
        part >>= shift
        ids[at : at + len(part)] = part
    return ids, (span >> int(shift)) + 1


_LOCAL = np.arange(1 << 16, dtype=np.uint64)


def key_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys)`` for up to 65536 distinct keys, about twice as fast.

    Each key's offset from the smallest, cut to 48 bits, is packed above its 16-bit
    position and the packed values are sorted (numpy's value sort is vectorised, its
    argsort is not).  Keys of a sub-bucket share their leading bits, so the cut rarely
    drops a bit; when two keys then tie, the plain argsort decides, so the order is
    always exactly the keys' order.
    """
    n = len(keys)
    if n > len(_LOCAL) or n < 2:
        return np.argsort(keys)
    low = keys.min()
    drop = max(int(keys.max() - low).bit_length() - 48, 0)
    packed = keys - low
    if drop:
        packed >>= np.uint64(drop)
    packed <<= np.uint64(16)
    packed |= _LOCAL[:n]
    packed.sort()
    if drop and np.any((packed[1:] >> np.uint64(16)) == (packed[:-1] >> np.uint64(16))):
        return np.argsort(keys)
    packed &= np.uint64(0xFFFF)
    return packed.astype(np.intp)


class GroupOrder:
    """A group of records ordered by key, cut into sub-buckets that can be built apart.

    ``bounds`` has ``n + 1`` entries: record ``k`` is ``data[bounds[k]:bounds[k + 1]]``.
    Sub-bucket ``b`` holds the keys of one leading-bit range, so writing ``parts(0)``,
    ``parts(1)``, ... in turn writes the whole group in key order, while the parts
    themselves may be built by several threads at once (numpy releases the GIL).
    """

    def __init__(self, data: np.ndarray, bounds: np.ndarray, keys: np.ndarray, piece: int) -> None:
        self.data = data
        self.bounds = bounds
        self.keys = keys
        self.piece = piece
        ids, self.count = sub_bucket_ids(keys, int(bounds[-1]), SUB_BUCKET_RECORDS, 2 * piece)
        self.order, self.sub_bounds = partition(ids, self.count)

    def parts(self, b: int) -> list[memoryview]:
        """Sub-bucket ``b`` in key order: short records gathered into one new buffer,
        long ones as views of ``data`` (no copy)."""
        recs = self.order[self.sub_bounds[b] : self.sub_bounds[b + 1]]
        if len(recs) == 0:
            return []
        recs = recs[key_order(self.keys[recs])]
        starts = self.bounds[recs]
        lengths = self.bounds[recs + 1] - starts
        runs = list(_segments(lengths, self.piece))
        short = [(i, j, size) for i, j, _, size in runs if size < SLICE_COPY_MIN_AVERAGE * (j - i)]
        buffer = np.empty(sum(size for _, _, size in short), dtype=np.uint8)
        gathered = memoryview(buffer)
        source = memoryview(self.data)
        out: list[memoryview] = []
        at = 0
        for i, j, _, size in runs:
            if short and short[0][0] == i:
                short.pop(0)
                gather_into(buffer[at : at + size], self.data, starts[i:j], lengths[i:j], self.piece)
                out.append(gathered[at : at + size])
                at += size
            else:
                out.extend(
                    source[start : start + length]
                    for start, length in zip(starts[i:j].tolist(), lengths[i:j].tolist(), strict=True)
                )
        return out


@dataclass
class Scattered:
    """A batch of records grouped by bucket, ready to be appended to bucket files."""

    data: np.ndarray  # the batch's bytes, bucket by bucket
    data_bounds: np.ndarray  # bucket b's bytes: data[data_bounds[b]:data_bounds[b+1]]
    indices: np.ndarray  # the records' global indices, bucket by bucket
    bounds: np.ndarray  # bucket b's records: indices[bounds[b]:bounds[b+1]]

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)


def scatter(
    data: np.ndarray,
    ends: np.ndarray,
    indices: np.ndarray,
    spec: KeySpec,
    prefix_bits: int,
    fanout_bits: int,
    out: np.ndarray,
    piece: int,
) -> Scattered:
    """Group one batch of records by bucket, keeping input order inside each bucket.

    ``ends`` are the records' end offsets in ``data``; ``indices`` their global indices.
    ``out`` receives the regrouped bytes and must be at least ``ends[-1]`` long.  Batches
    are independent, so several can be scattered at once; their gaps are encoded in
    input order afterwards (:func:`encode_bucket_gaps`).
    """
    nbuckets = 1 << fanout_bits
    keys = draw_keys(spec, indices)
    ids = bucket_ids(keys, prefix_bits, fanout_bits)
    del keys
    order, bounds = partition(ids, nbuckets)
    del ids
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1]
    lengths = ends - starts
    lengths = lengths[order]
    gather_into(out[: int(ends[-1])], data, starts[order], lengths, piece)
    del starts
    data_bounds = np.zeros(nbuckets + 1, dtype=np.int64)
    np.cumsum(lengths, out=lengths)
    filled = bounds[1:] > bounds[:-1]
    data_bounds[1:][filled] = lengths[bounds[1:][filled] - 1]
    np.maximum.accumulate(data_bounds, out=data_bounds)
    return Scattered(out, data_bounds, indices[order], bounds)


def encode_bucket_gaps(s: Scattered, last_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode a scattered batch's indices as gaps per bucket; returns (gaps, gap_bounds).

    ``last_index[b]`` is the last index already written to bucket ``b`` (-1 if none) and
    is updated, so batches must pass through here in input order.
    """
    indices, bounds = s.indices, s.bounds
    filled = bounds[1:] > bounds[:-1]
    previous = np.empty_like(indices)
    previous[1:] = indices[:-1]
    previous[bounds[:-1][filled]] = last_index[filled]
    last_index[filled] = indices[bounds[1:][filled] - 1]
    gaps = encode_gaps(indices, previous)
    return gaps, (bounds if len(gaps) == len(indices) else _gap_bounds(gaps, bounds))


def _gap_bounds(gaps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Bucket boundaries in an escaped gap stream, from the record boundaries."""
    final_positions = np.flatnonzero(gaps != GAP_ESCAPE)
    out = np.empty_like(bounds)
    out[0] = 0
    out[1:] = np.where(bounds[1:] > 0, final_positions[np.maximum(bounds[1:] - 1, 0)] + 1, 0)
    return out


class SmallestKeys:
    """The ``k`` records with the smallest keys seen so far, for ``-n``/``--head-count``.

    Since the output is "records sorted by key", these are exactly the first ``k`` lines
    of the full shuffle with the same seed, found in one streaming pass with memory for
    about ``2 k`` records.  Candidates are appended until there are ``2 k``, then cut back
    to ``k`` (amortised linear time); a record whose key is not below the ``k``-th
    smallest key at the last cut can never make it and is skipped at once.
    """

    def __init__(self, k: int, piece: int) -> None:
        self.k = k
        self.piece = piece
        self.chunks: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.count = 0
        self.nbytes = 0
        self.limit: int | None = None  # keys >= limit are out

    def offer(self, data: np.ndarray, ends: np.ndarray, keys: np.ndarray) -> None:
        """Consider a batch of records (``ends`` as from :func:`find_ends`)."""
        starts = np.empty(len(ends), dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1]
        picked = np.flatnonzero(keys < np.uint64(self.limit)) if self.limit is not None else np.arange(len(ends))
        if len(picked) == 0:
            return
        if len(picked) > self.k:  # no more than k of one batch can be kept
            picked = picked[np.sort(np.argpartition(keys[picked], self.k - 1)[: self.k])]
        lengths = (ends - starts)[picked]
        chunk = np.empty(int(lengths.sum()), dtype=np.uint8)
        gather_into(chunk, data, starts[picked], lengths, self.piece)
        self.chunks.append(chunk)
        self.lengths.append(lengths)
        self.keys.append(keys[picked])
        self.count += len(picked)
        self.nbytes += len(chunk)
        if self.count >= 2 * self.k:
            self._cut()

    def _cut(self) -> None:
        if not self.chunks:
            return
        data = np.concatenate(self.chunks)
        lengths = np.concatenate(self.lengths)
        keys = np.concatenate(self.keys)
        if len(keys) > self.k:
            keep = np.sort(np.argpartition(keys, self.k - 1)[: self.k])
            self.limit = int(keys[keep].max())
            starts = np.cumsum(lengths) - lengths
            lengths, keys = lengths[keep], keys[keep]
            kept = np.empty(int(lengths.sum()), dtype=np.uint8)
            gather_into(kept, data, starts[keep], lengths, self.piece)
            data = kept
        self.chunks, self.lengths, self.keys = [data], [lengths], [keys]
        self.count, self.nbytes = len(keys), len(data)

    def result(self) -> GroupOrder:
        """The kept records, ready to be written in key order."""
        self._cut()
        if not self.chunks:
            empty = np.empty(0, dtype=np.uint8)
            return GroupOrder(empty, np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.uint64), self.piece)
        bounds = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(self.lengths[0], out=bounds[1:])
        return GroupOrder(self.chunks[0], bounds, self.keys[0], self.piece)


def order_group(data: np.ndarray, bounds: np.ndarray, indices: np.ndarray, spec: KeySpec, piece: int) -> GroupOrder:
    """Order a group of records with these global indices (see :class:`GroupOrder`)."""
    return GroupOrder(data, bounds, draw_keys(spec, indices), piece)


# -- GNU shuf compatibility: inverse keys, key-order selection, bounded draws, numbers ------


def _unxorshift(y: np.ndarray, shift: int) -> None:
    """Invert ``x ^= x >> shift`` in place: each round fixes ``shift`` more top bits."""
    x = y.copy()
    for _ in range(64 // shift):
        np.right_shift(x, np.uint64(shift), out=x)
        x ^= y
    y[...] = x


def invert_keys(spec: KeySpec, keys: np.ndarray) -> np.ndarray:
    """Return the indices whose keys are ``keys``: the exact inverse of :func:`draw_keys`.

    Every step of the key function is a bijection of 64-bit integers: the xor-shifts are
    undone by repeating them, the multiplications by odd constants by multiplying with the
    constants' inverses mod 2**64.  So ``invert_keys(spec, draw_keys(spec, i)) == i``.
    """
    x = np.asarray(keys).astype(np.uint64, copy=True)
    _unxorshift(x, 31)
    x *= np.uint64(pow(_M2, -1, 1 << 64))
    _unxorshift(x, 27)
    x *= np.uint64(pow(_M1, -1, 1 << 64))
    _unxorshift(x, 30)
    x -= np.uint64(spec.offset)
    x *= np.uint64(pow(spec.gamma, -1, 1 << 64))
    return x


def walk_smallest_keys(invert: Callable[[np.ndarray], np.ndarray], n: int, k: int, chunk: int) -> Iterator[np.ndarray]:
    """Yield, in key order, the indices below ``n`` of the ``k`` smallest keys.

    Walks the keys 0, 1, 2, ... upward ``chunk`` at a time, maps them back to indices with
    ``invert`` (a bijection of 64-bit integers, e.g. :func:`invert_keys`) and keeps the
    indices below ``n``.  About ``k * 2**64 / n`` keys are inverted, whatever ``n`` is, so
    ``-n 3`` on a range of 2**64 numbers is instant.  Memory is ``chunk`` keys.
    """
    key = 0
    left = k
    while left > 0 and key <= MASK64:
        expected = left * (MASK64 + 1) // max(n, 1)
        size = min(max(expected + expected // 8, 1024), chunk, MASK64 + 1 - key)
        keys = np.arange(size, dtype=np.uint64)
        keys += np.uint64(key)
        indices = invert(keys)
        if n <= MASK64:
            indices = indices[indices < np.uint64(n)]
        indices = indices[:left]
        key += size
        left -= len(indices)
        if len(indices):
            yield indices


def enumerate_smallest_keys(draw: Callable[[np.ndarray], np.ndarray], n: int, k: int, chunk: int) -> np.ndarray:
    """Return, in key order, the indices below ``n`` of the ``k`` smallest keys.

    Draws the keys (``draw``, e.g. :func:`draw_keys`) of every index 0..n-1, ``chunk`` at
    a time: cost about ``n``, memory about ``2 k + chunk`` keys and indices.  As in
    :class:`SmallestKeys`, candidates pile up to ``2 k`` and are then cut back to the
    ``k`` smallest, whose largest key bounds every later candidate.  Gives exactly what
    :func:`walk_smallest_keys` yields, by another route.
    """
    keys_kept: list[np.ndarray] = []
    indices_kept: list[np.ndarray] = []
    count = 0
    limit: np.uint64 | None = None

    def cut() -> None:
        nonlocal count, limit
        keys = np.concatenate(keys_kept)
        indices = np.concatenate(indices_kept)
        if len(keys) > k:
            keep = np.argpartition(keys, k - 1)[:k]
            keys, indices = keys[keep], indices[keep]
            limit = keys.max()
        keys_kept[:] = [keys]
        indices_kept[:] = [indices]
        count = len(keys)

    for lo in range(0, n, chunk):
        indices = np.arange(lo, min(n, lo + chunk), dtype=np.uint64)
        keys = draw(indices)
        if limit is not None:
            hits = np.flatnonzero(keys < limit)
            indices, keys = indices[hits], keys[hits]
        keys_kept.append(keys)
        indices_kept.append(indices)
        count += len(keys)
        if count >= 2 * k:
            cut()
    if not keys_kept:
        return np.empty(0, dtype=np.uint64)
    cut()
    return indices_kept[0][np.argsort(keys_kept[0])]


def repeat_spec(seed: int) -> KeySpec:
    """The key function of ``-r`` draws: derived from the seed, apart from the shuffle's."""
    return KeySpec.from_seed(_mix64_int(seed ^ 0xD1B54A32D192ED03))


def draw_below(spec: KeySpec, counters: np.ndarray, n: int) -> np.ndarray:
    """Uniform integers in ``[0, n)`` from the random words at these counter positions.

    The word at position ``c`` is ``draw_keys(spec, c)``: a counter-based stream, so a
    seed gives the same draws however the counters are cut into blocks.  Words at or above
    the largest multiple of ``n`` below 2**64 are rejected (fewer than half of them), so
    every value is exactly equally likely; the result is shorter than ``counters`` by the
    rejected ones, in counter order.
    """
    if not 0 < n <= MASK64 + 1:
        raise ValueError(f"cannot draw below {n}")
    words = draw_keys(spec, counters)
    if n == MASK64 + 1:
        return words
    limit = MASK64 + 1 - (MASK64 + 1) % n
    if limit <= MASK64:
        words = words[words < np.uint64(limit)]
    return words % np.uint64(n)


_POW10 = np.array([10**p for p in range(19, -1, -1)], dtype=np.uint64)


def decimal_width(value: int) -> int:
    """How many decimal digits ``value`` (>= 0) has."""
    return len(str(value))


def format_decimal(values: np.ndarray, sep: int) -> np.ndarray:
    """The decimal text of uint64 ``values``, each followed by ``sep``, as one uint8 array.

    Digits are computed column by column at the width of the largest value (nine digits
    at a time in uint32, which numpy divides several times faster than uint64), then
    leading zeros are masked out row by row, keeping the values' order: ~100 ns a number.
    """
    values = np.asarray(values, dtype=np.uint64)
    if len(values) == 0:
        return np.empty(0, dtype=np.uint8)
    width = decimal_width(int(values.max()))
    rows = np.empty((len(values), width + 1), dtype=np.uint8)
    rest = values
    col = width - 1
    while col >= 0:
        if col >= 9:
            high = rest // np.uint64(10**9)
            part = (rest - high * np.uint64(10**9)).astype(np.uint32)
            rest = high
        else:
            part = rest.astype(np.uint32)
        for _ in range(min(9, col + 1)):
            quotient = part // np.uint32(10)
            rows[:, col] = part - quotient * np.uint32(10)
            part = quotient
            col -= 1
    rows[:, :width] += ord("0")
    rows[:, width] = sep
    if width == 1:
        return rows.reshape(-1)
    keep = np.ones(rows.shape, dtype=bool)
    keep[:, : width - 1] = values[:, None] >= _POW10[20 - width : 19]
    return rows[keep]


def decimal_bytes(lo: int, hi: int) -> int:
    """The length of the text of the numbers ``lo..hi``, each followed by one separator."""
    total = 0
    for width in range(1, 21):
        first = max(lo, 10 ** (width - 1) if width > 1 else 0)
        last = min(hi, 10**width - 1)
        if first <= last:
            total += (last - first + 1) * (width + 1)
    return total
