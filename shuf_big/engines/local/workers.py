"""The local engines' worker threads, and what every step of one local shuffle shares.

numpy releases the GIL in the hot paths (copies, sorts, searches), so threads scale the
framing, scattering and ordering; without workers (``-j 1``) everything runs inline.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from shuf_big import core
from shuf_big.budget.plan import PARALLEL_MIN_BYTES, Plan
from shuf_big.files.outputs import Sink
from shuf_big.files.protocol import Reader
from shuf_big.files.records import read_fully
from shuf_big.system.progress import Phase, Progress

T = TypeVar("T")


class Workers:
    """A pool of ``jobs`` threads (none for one job), used as a context manager."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Workers:
        if self.jobs > 1:
            self.pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="shuf-big")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    @property
    def parallel(self) -> bool:
        return self.pool is not None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on a worker (only when :attr:`parallel`)."""
        assert self.pool is not None
        return self.pool.submit(fn, *args)

    def map(self, fn: Callable[..., Any], *args: Sequence[Any]) -> list[Any]:
        """``fn`` over the arguments, on the workers when there are several calls."""
        if self.pool is None or len(args[0]) < 2:
            return list(map(fn, *args))
        return list(self.pool.map(fn, *args))

    def ranges(self, size: int, sep: bytes) -> list[tuple[int, int]]:
        """Byte ranges of an in-memory buffer that workers frame at once.

        Only a one-byte separator can be found from any starting point; a longer one
        (leftmost matches) is framed from the start, in one range.
        """
        if self.pool is None or len(sep) != 1 or size < PARALLEL_MIN_BYTES:
            return [(0, size)]
        n = 4 * self.jobs
        cuts = [size * i // n for i in range(n + 1)]
        return list(itertools.pairwise(cuts))

    def read_fully(self, raw: Reader, view: memoryview, what: str) -> int:
        """:func:`~shuf_big.files.records.read_fully`, with positioned reads on all workers where
        the input allows (copies from the page cache and first-touch faults in parallel)."""
        if self.pool is None or len(view) < PARALLEL_MIN_BYTES:
            return read_fully(raw, view, what)
        filled = 0
        while filled < len(view):
            got = raw.readinto_parallel(view[filled:], 4 * self.jobs, self.map)
            if not got:
                break
            filled += got
        return filled

    def emit(self, group: core.GroupOrder, out: Sink, progress: Phase) -> None:
        """Write a group's sub-buckets in order; with workers, build the next ones meanwhile.

        At most ``jobs`` sub-buckets are built ahead of the one being written, so the
        memory in flight is bounded (counted in the plan's scratch).  A partitioned group
        is first partitioned on all workers.
        """
        group.prepare(self.map, self.jobs)
        if self.pool is None:
            for b in range(group.count):
                progress.update(out.write(group.parts(b), group.records(b)))
            return
        ahead: deque[tuple[int, Future[list[memoryview]]]] = deque()
        try:
            for b in range(group.count):
                ahead.append((b, self.pool.submit(group.parts, b)))
                if len(ahead) > self.jobs:
                    done, parts = ahead.popleft()
                    progress.update(out.write(parts.result(), group.records(done)))
            while ahead:
                done, parts = ahead.popleft()
                progress.update(out.write(parts.result(), group.records(done)))
        finally:
            for _, future in ahead:
                future.cancel()


@dataclass
class Context:
    """What every step of one local shuffle shares: budget, permutation, separator, threads."""

    plan: Plan
    spec: core.KeySpec
    sep: bytes
    workers: Workers
    progress: Progress

    def bar(self, desc: str, writes: int | None = None) -> Phase:
        """A step on the run's bar: a reading one, or one writing ``writes`` bytes."""
        return self.progress.phase(desc, writes)
