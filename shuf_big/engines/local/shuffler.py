"""Shuffle one stream of records into one sink within the budget: the local engines' core loop.

Input that fits the budget is read once and shuffled in memory; larger input goes through
the two-pass external shuffle.  ``-n`` streams, keeping only the smallest keys.  The local
engine runs this per output (``--aligned`` runs it per input); the GNU engine runs it for
``-e`` operands and ``-i`` ranges.
"""

from __future__ import annotations

import gc

import numpy as np

from shuf_big import core
from shuf_big.budget.plan import Plan
from shuf_big.engines.local import in_memory
from shuf_big.engines.local.external import External
from shuf_big.engines.local.workers import Context, Workers
from shuf_big.errors import RecordTooLarge, ShufBigError
from shuf_big.files.outputs import Sink
from shuf_big.files.protocol import PrefixedReader, Reader
from shuf_big.job import Stats
from shuf_big.system.progress import Progress, input_name, position
from shuf_big.system.tempfiles import TempDirs


class Shuffler:
    """Shuffle streams with ``plan.jobs`` threads and temp files in ``temp``, counting in
    ``stats`` what each run read and which path it took."""

    def __init__(
        self, plan: Plan, spec: core.KeySpec, temp: TempDirs, sep: bytes, progress: Progress, stats: Stats
    ) -> None:
        self.plan = plan
        self.spec = spec
        self.temp = temp
        self.sep = sep
        self.progress = progress
        self.stats = stats

    def run(self, raw: Reader, size: int | None, what: str, out: Sink, head_count: int | None = None) -> None:
        """Shuffle ``raw`` (``size`` bytes if known) into ``out``; with ``head_count``,
        write only that many first records of the shuffle."""
        self.progress.new_stream()
        # The objects alive now (modules, the job) outlive the run: frozen, the garbage
        # collector's full passes skip them (they cost ~2 % of a run on short records).
        gc.freeze()
        try:
            with Workers(self.plan.jobs) as workers:
                ctx = Context(self.plan, self.spec, self.sep, workers, self.progress)
                self._run(ctx, raw, size, what, out, head_count)
        except RecordTooLarge as err:
            raise self._too_large(err, raw, what, kept=head_count is not None) from None
        finally:
            gc.unfreeze()

    def _too_large(self, err: RecordTooLarge, raw: Reader, what: str, kept: bool) -> ShufBigError:
        """What to do about a record over the budget: which input and line it is, and the
        smallest ``--mem`` that takes it (``kept``: that ``-n`` can also keep in memory)."""
        where, number = raw.locate(err.index)
        unit = "line" if self.sep == b"\n" else "record"
        return ShufBigError(self.plan.too_large(err.size, f"{unit} {number} of {where}", kept))

    def _run(self, ctx: Context, raw: Reader, size: int | None, what: str, out: Sink, head_count: int | None) -> None:
        plan = self.plan
        if head_count is not None:
            # Always streaming, even for input that fits: memory for ~2 x COUNT records, not the input.
            records, nbytes = in_memory.head(ctx, raw, what, out, head_count)
            self.stats.took("streaming -n", records, nbytes)
            return
        if size is None or size <= plan.order_budget:
            # Read what may fit: all of a small file (+1 byte to notice growth), or half
            # the budget of a stream, so that falling back to pass 1 stays in budget.  A
            # file larger than the ordering budget cannot fit and goes to pass 1 unread.
            room = len(self.sep)  # for a terminator the last record may lack
            probe = np.empty(size + 1 + room if size is not None else plan.mem // 2, dtype=np.uint8)
            reading = ctx.bar("reading")  # ended (a log line) only if the input is shuffled in memory
            reading.describe(input_name(raw))
            filled = ctx.workers.read_fully(raw, memoryview(probe[: len(probe) - room]), what)
            reading.advance_to(position(raw, filled))
            if filled < len(probe) - room:
                end = core.terminator(probe[:filled], self.sep)  # GNU shuf terminates it too
                terminated = filled + len(end)
                probe[filled:terminated] = np.frombuffer(end, dtype=np.uint8)
                counts = in_memory.count(ctx, probe[:terminated])
                if plan.order_need(terminated, sum(counts), partitioned=False) <= plan.order_budget:
                    reading.end()
                    in_memory.shuffle(ctx, probe[:terminated], counts, out)
                    self.stats.took("in memory", sum(counts), terminated)
                    return
            reading.undo()  # pass 1 counts from the input's start
            # Pass 1 starts from the bytes read when they take at most half the budget (as a
            # stream's probe does), so an object in a bucket is not downloaded twice; a
            # larger probe is dropped and the file read again.
            if size is not None and raw.rewindable and filled > plan.mem // 2:
                del probe
                raw.rewind()
            else:
                raw = PrefixedReader(probe[:filled], raw)
                del probe
        records, nbytes = External(ctx, self.temp, self.stats).run(raw, size, what, out)
        self.stats.took("external", records, nbytes)
