"""GNU shuf's other input modes: ``-e``, ``-i``, ``-r`` and ``--random-source``.

The shuffle itself stays the engine's: ``-e`` operands and ``-i`` numbers become an input
stream of records fed to :class:`shuf_big.engine.LocalEngine`, so ``--seed``, ``-n``,
``--mem`` and ``-j`` behave exactly as with a file.  Two things need their own code:

* ``-i LO-HI -n K`` with K below the range's size: the first K lines of the shuffle are
  the K smallest keys among the indices ``0..HI-LO``, found by walking the keys 0, 1, 2,
  ... upward and inverting them (:func:`shuf_big.core.invert_keys`), or by enumerating
  the range's keys, whichever is cheaper;
* ``-r``: independent uniform draws with replacement, from a counter-based stream of a
  key function derived from the seed (:func:`shuf_big.core.repeat_spec`), with rejection
  so that every line or number is exactly equally likely.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterator, Sequence

import numpy as np

from . import core
from .engine import LocalEngine, Plan, run_stream
from .errors import ShufBigError
from .inputs import Inputs
from .io import Output, TempDirs, describe, read_fully
from .outputs import open_output
from .sizes import format_size

# --random-source: the seed is the 8-byte BLAKE2b digest of at most this many first bytes.
RANDOM_SOURCE_BYTES = 32
RANGE_MAX = core.MASK64
# GNU's xstrtoumax in base 10 (leading white space, an optional '+').
_DECIMAL = re.compile(r"[ \t\n\v\f\r]*\+?([0-9]+)")


# -- parsing --------------------------------------------------------------------------------


def _parse_bound(text: str) -> int:
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid input range: '{text}'")
    value = int(match.group(1))
    if value > RANGE_MAX:
        raise ShufBigError(f"invalid input range: '{text}': Value too large for defined data type")
    return value


def parse_count(text: str) -> int:
    """Parse ``-n COUNT`` as GNU shuf does (base 10, leading white space and '+' allowed).

    Counts beyond 2**64-1, which GNU shuf takes as "no limit", stay exact Python ints.
    """
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid line count: '{text}'")
    return int(match.group(1))


def parse_input_range(text: str) -> tuple[int, int]:
    """Parse ``-i LO-HI`` as GNU shuf does; ``HI = LO - 1`` is an empty range.

    Unlike GNU shuf (whose line count must fit in 64 bits), ``0-18446744073709551615``
    is accepted: its 2**64 numbers can be sampled with ``-n`` or ``-r``.
    """
    lo_text, dash, hi_text = text.partition("-")
    if not dash:
        _parse_bound(text)
        raise ShufBigError(f"invalid input range: '{text}'")
    lo = _parse_bound(lo_text)
    hi = _parse_bound(hi_text)
    if lo > hi + 1:
        raise ShufBigError(f"invalid input range: '{text}'")
    return lo, hi


def seed_from_random_source(path: str | os.PathLike[str]) -> int:
    """The 64-bit seed ``--random-source=FILE`` stands for.

    The output depends only on FILE's first 32 bytes (fewer if it is shorter; never more
    are read, so ``/dev/urandom`` or an endless pipe works): the seed is their BLAKE2b
    digest with ``digest_size=8``, read as a big-endian integer.  An empty FILE is an
    error, as GNU shuf's "end of file".
    """
    name = os.fspath(path)
    try:
        handle = open(name, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except IsADirectoryError as err:
        raise ShufBigError(f"'{name}': read error: {describe(err)}") from None
    except OSError as err:
        raise ShufBigError(f"{name}: {describe(err)}") from None
    with handle:
        data = bytearray(RANDOM_SOURCE_BYTES)
        got = read_fully(handle, memoryview(data), f"'{name}'")
    if got == 0:
        raise ShufBigError(f"'{name}': end of file")
    return int.from_bytes(hashlib.blake2b(bytes(data[:got]), digest_size=8).digest(), "big")


# -- in-memory and generated inputs ------------------------------------------------------


class BytesReader:
    """A raw reader over bytes already in memory (the ``-e`` operands)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self.data) - self.offset)
        buffer[:n] = self.data[self.offset : self.offset + n]
        self.offset += n
        return n

    rewindable = True

    def rewind(self) -> None:
        self.offset = 0


class RangeReader:
    """The text of the numbers ``lo..hi``, one per record, generated ``chunk`` at a time."""

    def __init__(self, lo: int, hi: int, sep: int, chunk: int) -> None:
        self.lo, self.hi, self.sep, self.chunk = lo, hi, sep, chunk
        self.size = core.decimal_bytes(lo, hi)
        self.rewind()

    rewindable = True

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
                self.pending = core.format_decimal(values, bytes([self.sep]))
                self.used = 0
                self.next += count
            n = min(len(out) - filled, len(self.pending) - self.used)
            out[filled : filled + n] = self.pending[self.used : self.used + n]
            filled += n
            self.used += n
        return filled


def echo_input(operands: Sequence[str | bytes], sep: int) -> bytes:
    """The ``-e`` operands as one input: each operand a record ended by ``sep``."""
    end = bytes([sep])
    return b"".join((os.fsencode(op) if isinstance(op, str) else op) + end for op in operands)


# -- -i LO-HI -n K ----------------------------------------------------------------------------


def range_head_method(n: int, k: int) -> str:
    """``"walk"`` (invert keys upward: ~``k * 2**64 / n`` steps) or ``"enumerate"`` (draw
    the keys of all ``n`` indices), whichever costs fewer key evaluations."""
    return "walk" if k * (core.MASK64 + 1) < n * n else "enumerate"


def range_head_indices(
    spec: core.KeySpec, n: int, k: int, chunk: int, method: str | None = None
) -> Iterator[np.ndarray]:
    """Yield, in shuffle order, the indices (into ``0..n-1``) of the shuffle's first ``k``
    records.  Both methods give exactly the same indices."""
    method = method or range_head_method(n, k)
    if method == "walk":
        yield from core.walk_smallest_keys(functools.partial(core.invert_keys, spec), n, k, chunk)
    elif method == "enumerate":
        indices = core.enumerate_smallest_keys(functools.partial(core.draw_keys, spec), n, k, chunk)
        for lo in range(0, len(indices), chunk):
            yield indices[lo : lo + chunk]
    else:
        raise ValueError(f"unknown method {method!r}")


def _block(plan: Plan) -> int:
    """Records or numbers per output block: large writes, a few dozen bytes each in memory."""
    return max(16, min(1 << 16, plan.mem // 1024))


def _range_head(lo: int, n: int, k: int, spec: core.KeySpec, plan: Plan, sep: int, out: Output) -> None:
    """``-i LO-HI -n K`` with K below the range's size, by the cheaper method.  The walk
    streams: its memory is one chunk of keys, about 100 bytes a key while inverted and formatted."""
    if range_head_method(n, k) == "enumerate" and 48 * k > plan.order_budget:
        raise ShufBigError(
            f"-n {k} keeps more lines than fit in --mem {format_size(plan.mem)}: "
            "raise --mem, or pipe the whole shuffle to head"
        )
    # Cache-sized chunks: 16 K keys at a time is 2-4x faster than 1 M.
    for indices in range_head_indices(spec, n, k, max(256, min(1 << 14, plan.mem // 256))):
        indices += np.uint64(lo)
        out.write([memoryview(core.format_decimal(indices, bytes([sep])))])


# -- -r ---------------------------------------------------------------------------------------


def _draws(spec: core.KeySpec, n: int, count: int | None, block: int) -> Iterator[np.ndarray]:
    """Uniform draws in ``[0, n)``: ``count`` of them, or endlessly if None.

    Blocks of counter positions are used up whole except the last, so the sequence of
    draws does not depend on ``block``.
    """
    counter = 0
    left = count
    while left is None or left > 0:
        counters = np.arange(block, dtype=np.uint64)
        counters += np.uint64(counter)
        counter = (counter + block) & core.MASK64
        picks = core.draw_below(spec, counters, n)
        if left is not None:
            picks = picks[:left]
            left -= len(picks)
        yield picks


def _repeat_records(data: np.ndarray, sep: int, spec: core.KeySpec, plan: Plan, count: int | None, out: Output) -> None:
    """``-r`` over records in memory (``data`` ends with ``sep``)."""
    nrecords = core.count_records(data, bytes([sep]))
    if nrecords == 0:
        raise ShufBigError("no lines to repeat")
    bounds = np.empty(nrecords + 1, dtype=np.int64)
    core.frame_into(bounds, data, bytes([sep]), max(plan.piece, 1 << 16))
    starts = bounds[:-1]
    lengths = np.diff(bounds)
    del bounds
    for picks in _draws(spec, nrecords, count, _block(plan)):
        out.write(core.ordered_parts(data, starts[picks], lengths[picks], plan.piece))


def _repeat_range(lo: int, n: int, spec: core.KeySpec, plan: Plan, sep: int, count: int | None, out: Output) -> None:
    """``-r -i LO-HI``: uniform numbers in the range, which is never materialised."""
    if n == 0:
        raise ShufBigError("no lines to repeat")
    for picks in _draws(spec, n, count, _block(plan)):
        picks += np.uint64(lo)
        out.write([memoryview(core.format_decimal(picks, bytes([sep])))])


def _load_records(srcs: list[str], sep: int, plan: Plan) -> np.ndarray:
    """All input records in memory (``-r`` needs every line at hand, as GNU shuf loads
    them), terminated by ``sep``; a clear error if they do not fit the budget."""
    inputs = Inputs(srcs, bytes([sep]))
    what = inputs.what

    def too_big() -> ShufBigError:
        return ShufBigError(
            f"-r keeps every input line in memory, and {what} does not fit in --mem {format_size(plan.mem)}: "
            "raise --mem"
        )

    try:
        if inputs.size is not None and inputs.size >= plan.order_budget:
            raise too_big()
        buffer = bytearray()
        scratch = np.empty(min(plan.read_buffer, 1 << 20), dtype=np.uint8)
        while got := read_fully(inputs, memoryview(scratch), what):
            buffer += memoryview(scratch)[:got]
            if len(buffer) >= plan.order_budget:
                raise too_big()
    finally:
        inputs.close()
    if buffer and buffer[-1] != sep:
        buffer.append(sep)  # GNU shuf terminates the last line too
    data = np.frombuffer(buffer, dtype=np.uint8)
    if len(data) + 16 * core.count_records(data, bytes([sep])) > plan.order_budget:
        raise too_big()
    return data


# -- the entry point ------------------------------------------------------------------------


def run(
    srcs: list[str],
    dst: str,
    plan: Plan,
    seed: int,
    dirs: list[str],
    sep: int,
    progress: bool,
    head_count: int | None,
    echo: Sequence[str | bytes] | None,
    input_range: tuple[int, int] | None,
    repeat: bool,
) -> None:
    """Run ``-e``, ``-i`` or ``-r`` (see :func:`shuf_big.shuffle`) into ``dst``."""
    spec = core.KeySpec.from_seed(seed)
    data = echo_input(echo, sep) if echo is not None else None
    if not repeat and (head_count is None or input_range is None or head_count >= input_range[1] - input_range[0] + 1):
        # A full shuffle (or -n of the -e operands): the engine, as for any file.
        engine = LocalEngine(plan, spec, TempDirs(dirs), sep, progress)
        if data is not None:
            run_stream(BytesReader(data), len(data), "the -e operands", dst, engine, head_count)
        else:
            assert input_range is not None
            reader = RangeReader(*input_range, sep, _block(plan))
            run_stream(reader, reader.size, f"-i {input_range[0]}-{input_range[1]}", dst, engine, head_count)
        return
    out = open_output(dst, None, bytes([sep]))
    try:
        out.open()
        if not repeat:
            assert input_range is not None and head_count is not None
            lo, hi = input_range
            _range_head(lo, hi - lo + 1, head_count, spec, plan, sep, out)
        elif input_range is not None:
            lo, hi = input_range
            _repeat_range(lo, hi - lo + 1, core.repeat_spec(seed), plan, sep, head_count, out)
        else:
            records = np.frombuffer(data, dtype=np.uint8) if data is not None else _load_records(srcs, sep, plan)
            _repeat_records(records, sep, core.repeat_spec(seed), plan, head_count, out)
        out.commit()
    finally:
        out.discard()
