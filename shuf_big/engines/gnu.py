"""The GNU engine: GNU shuf's generated inputs ``-e`` and ``-i`` and draws with ``-r``.

A full shuffle stays the shuffler's: ``-e`` operands and ``-i`` numbers become an input
stream of records fed to :class:`shuf_big.engines.local.shuffler.Shuffler`, so ``--seed``, ``-n``,
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
from collections.abc import Iterator, Sequence

import numpy as np

from shuf_big import core
from shuf_big.budget.malloc import tune_for_budget
from shuf_big.budget.plan import Plan
from shuf_big.budget.sizes import format_size
from shuf_big.engines.generated import BytesReader, RangeReader, echo_input
from shuf_big.engines.local.shuffler import Shuffler
from shuf_big.engines.preflight import check_job, store_for
from shuf_big.errors import ShufBigError
from shuf_big.files.compression import Compression
from shuf_big.files.inputs import Inputs
from shuf_big.files.outputs import Sink
from shuf_big.files.readers import Source
from shuf_big.files.records import read_fully
from shuf_big.files.shards import open_output
from shuf_big.job import Job, Result, Stats
from shuf_big.storage.store import Store
from shuf_big.system.progress import Progress
from shuf_big.system.tempfiles import TempDirs, fd_fanout_bits


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


def _range_head(lo: int, n: int, k: int, spec: core.KeySpec, plan: Plan, sep: bytes, out: Sink) -> None:
    """``-i LO-HI -n K`` with K below the range's size, by the cheaper method.  The walk
    streams: its memory is one chunk of keys, about 100 bytes a key while inverted and formatted."""
    if range_head_method(n, k) == "enumerate" and 48 * k > plan.order_budget:
        raise plan.head_too_large(k)
    # Cache-sized chunks: 16 K keys at a time is 2-4x faster than 1 M.
    for indices in range_head_indices(spec, n, k, max(256, min(1 << 14, plan.mem // 256))):
        indices += np.uint64(lo)
        out.write([memoryview(core.format_decimal(indices, sep))], len(indices))


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


def _repeat_records(data: np.ndarray, sep: bytes, spec: core.KeySpec, plan: Plan, count: int | None, out: Sink) -> None:
    """``-r`` over records in memory (``data`` ends with ``sep``)."""
    nrecords = core.count_records(data, sep)
    if nrecords == 0:
        raise ShufBigError("no lines to repeat")
    bounds = np.empty(nrecords + 1, dtype=np.int64)
    core.frame_into(bounds, data, sep, max(plan.piece, 1 << 16))
    starts = bounds[:-1]
    lengths = np.diff(bounds)
    del bounds
    for picks in _draws(spec, nrecords, count, _block(plan)):
        out.write(core.ordered_parts(data, starts[picks], lengths[picks], plan.piece), len(picks))


def _repeat_range(lo: int, n: int, spec: core.KeySpec, plan: Plan, sep: bytes, count: int | None, out: Sink) -> None:
    """``-r -i LO-HI``: uniform numbers in the range, which is never materialised."""
    if n == 0:
        raise ShufBigError("no lines to repeat")
    for picks in _draws(spec, n, count, _block(plan)):
        picks += np.uint64(lo)
        out.write([memoryview(core.format_decimal(picks, sep))], len(picks))


def _load_records(srcs: Sequence[Source], sep: bytes, plan: Plan, store: Store) -> np.ndarray:
    """All input records in memory (``-r`` needs every line at hand, as GNU shuf loads
    them), terminated by ``sep``; a clear error if they do not fit the budget."""
    inputs = Inputs(list(srcs), sep, store=store)
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
    if buffer and buffer[-1:] != sep:
        buffer += sep  # GNU shuf terminates the last line too
    data = np.frombuffer(buffer, dtype=np.uint8)
    if len(data) + 16 * core.count_records(data, sep) > plan.order_budget:
        raise too_big()
    return data


class GnuEngine:
    """``-e``, ``-i`` and ``-r``: records that come from the options, or draws with replacement."""

    name = "gnu"
    supports = frozenset({"head_count", "echo", "input_range", "repeat"})
    refusal = "-e, -i and -r cannot be combined with {option}"
    store: Store | None = None  # set by check, for run

    def check(self, job: Job) -> None:
        self.store = store_for(job)
        check_job(job, self.store)

    def run(self, job: Job) -> Result:
        plan = job.plan.with_fd_limit(fd_fanout_bits(1))
        tune_for_budget(plan.mem)
        sep = job.sep.token
        data = echo_input(job.echo, sep) if job.echo is not None else None
        compression = Compression(job.compress_level, plan.compress_block, plan.jobs, plan.compress_depth)
        store = self.store or store_for(job)
        out = open_output(job.outputs[0], None, sep, settings=compression, store=store)
        stats = Stats()
        try:
            out.open()
            if job.head_count != 0 and not job.repeat and not _is_partial(job.input_range or (0, -1), job.head_count):
                self._shuffle(job, plan, data, out, stats)
            else:
                stats.paths.append("generated")
                _generate(job, plan, data, out, store)
            out.commit()
            if job.repeat or _is_partial(job.input_range or (0, -1), job.head_count):
                stats.records_in = stats.bytes_in = None  # drawn or inverted, not read
            stats.downloaded, stats.uploaded = store.fetched(), store.sent()
            return Result.of(job, stats, out.records, out.written)
        finally:
            out.discard()
            store.close()

    @staticmethod
    def _shuffle(job: Job, plan: Plan, data: bytes | None, out: Sink, stats: Stats) -> None:
        """A full shuffle (or ``-n`` of the ``-e`` operands): the shuffler, as for any file."""
        temp = TempDirs(list(job.temp_dirs), 1)
        passes = 1 if job.head_count is not None else 2
        progress = Progress(job.progress)
        shuffler = Shuffler(plan, job.spec, temp, job.sep.token, progress, stats)
        try:
            if data is not None:
                progress.bar.total = passes * len(data)
                reader = BytesReader(data, "the -e operands")
                shuffler.run(reader, len(data), reader.what, out, job.head_count)
            else:
                assert job.input_range is not None
                lo, hi = job.input_range
                numbers = RangeReader(lo, hi, job.sep.token, _block(plan))
                progress.bar.total = passes * numbers.size
                shuffler.run(numbers, numbers.size, numbers.what, out, job.head_count)
        finally:
            progress.close()
            temp.remove()


def _generate(job: Job, plan: Plan, data: bytes | None, out: Sink, store: Store) -> None:
    """What is not a shuffle of records: nothing (``-n 0``), ``-n`` of a range, or draws."""
    sep = job.sep.token
    if job.head_count == 0:
        out.expect(0)
    elif not job.repeat:
        assert job.input_range is not None and job.head_count is not None
        out.expect(job.head_count)
        lo, hi = job.input_range
        _range_head(lo, hi - lo + 1, job.head_count, job.spec, plan, sep, out)
    elif job.input_range is not None:
        lo, hi = job.input_range
        _repeat_range(lo, hi - lo + 1, core.repeat_spec(job.seed), plan, sep, job.head_count, out)
    else:
        records = (
            np.frombuffer(data, dtype=np.uint8) if data is not None else _load_records(job.inputs, sep, plan, store)
        )
        _repeat_records(records, sep, core.repeat_spec(job.seed), plan, job.head_count, out)
    if job.repeat:
        out.expect(job.head_count or 0)


def _is_partial(input_range: tuple[int, int], head_count: int | None) -> bool:
    """Whether ``-n`` asks for fewer numbers than the range has (then keys are inverted)."""
    return head_count is not None and head_count < input_range[1] - input_range[0] + 1
