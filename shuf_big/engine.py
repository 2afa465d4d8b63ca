"""The local engine: one machine, a memory budget, temp files on local disks.

It decides between the in-memory path and the two-pass external shuffle, sizes every
buffer from the budget, and drives the pure functions of :mod:`shuf_big.core`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import secrets
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from . import core
from .errors import ShufBigError
from .inputs import PARAGRAPH_END, Inputs, count_in
from .io import (
    Batch,
    Counter,
    IndexStream,
    LongRecord,
    PrefixedReader,
    RawReader,
    RecordReader,
    Sink,
    TempDirs,
    default_temp_dirs,
    describe,
    read_fully,
    write_all,
)
from .malloc import tune_for_budget
from .outputs import open_output
from .sizes import format_size, parse_size

MIN_MEM = 16 * 1024
DEFAULT_MEM = "25%"
# Bytes of numpy arrays per record while a group is ordered in memory (offsets, keys,
# sub-bucket order and temporaries); measured with tracemalloc, see tests/test_memory.py.
ORDER_BYTES_PER_RECORD = 48
# Bytes of arrays per record while a batch is scattered in pass 1.
SCATTER_BYTES_PER_RECORD = 96
# A bucket is planned to fill this share of the ordering budget, so random size
# fluctuations rarely force a split.
BUCKET_FILL = 0.5
# Pass 1 writes each bucket's share of a batch with one system call; below this many
# records per bucket and batch, splitting in two levels is faster than a wider fan-out.
MIN_RECORDS_PER_WRITE = 64
# The in-memory path frames and draws keys on all workers for inputs of at least this size,
# with keys drawn this many at a time.
PARALLEL_MIN_BYTES = 1 << 22
KEY_RANGE = 1 << 20


@dataclass(frozen=True)
class Plan:
    """Every buffer size, derived from the memory budget so the total stays under it.

    Pass 1 uses about half the budget (read buffer, regrouped copy, per-record arrays);
    pass 2 loads groups of buckets whose data and arrays fit in the rest of it.
    """

    mem: int
    read_buffer: int
    max_records: int
    piece: int
    order_budget: int
    fd_fanout_bits: int
    jobs: int = 1
    fanout_bits: int | None = None  # fixed fan-out, for tests of the split path

    @classmethod
    def for_budget(cls, mem: int, fanout_bits: int | None = None, jobs: int = 1) -> Plan:
        if mem < MIN_MEM:
            raise ShufBigError(f"--mem must be at least {MIN_MEM // 1024}K, got {mem} bytes")
        if jobs < 1:
            raise ShufBigError(f"invalid --jobs: {jobs} (must be at least 1)")
        piece = min(max(mem // (128 * (jobs + 1)), 4096), 1 << 20)
        # Pass 1 takes half the budget: the reader's buffer, then per batch in flight a
        # copy, a regrouped output and per-record arrays (one batch without workers, which
        # needs no copy).  Larger chunks than these caps gain nothing and would only risk
        # overcommitting RAM when --mem is set above what the machine has.
        inflight = 1 if jobs == 1 else jobs + 1
        buffers = 2 if jobs == 1 else 1 + 2 * inflight
        read_buffer = min(max(mem // (4 * buffers), 4096), 64 << 20)
        max_records = min(max(mem // (4 * SCATTER_BYTES_PER_RECORD * inflight), 16), 1 << 21)
        # Ordering scratch: per worker a gather index (16 B per piece byte) and sort arrays
        # for one sub-bucket, and one built sub-bucket (about 2-4 pieces) per worker in flight.
        scratch = jobs * (16 * piece + core.SUB_BUCKET_RECORDS * 64) + (jobs + 1) * 4 * piece
        order_budget = max(mem - scratch, mem // 2)
        return cls(mem, read_buffer, max_records, piece, order_budget, _fd_fanout_bits(), jobs, fanout_bits)

    def max_fanout_bits(self) -> int:
        """The widest fan-out worth one pass: open files allow it, and every bucket still
        gets a few dozen records per batch (else per-write costs dominate and a second
        level of buckets is cheaper)."""
        per_batch = max(self.max_records // MIN_RECORDS_PER_WRITE, 2).bit_length() - 1
        return max(min(self.fd_fanout_bits, max(per_batch, 2)), 1)

    def order_need(self, nbytes: int, nrecords: int) -> int:
        """Memory needed to order ``nrecords`` records of ``nbytes`` bytes in memory."""
        return nbytes + ORDER_BYTES_PER_RECORD * nrecords


def default_jobs() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _fd_fanout_bits() -> int:
    """How many bucket-count bits the open-file limit allows (2 files per bucket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:  # like most servers and sort(1)'s callers do: use the hard limit we are allowed
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 1 << 20), hard))
            soft = min(want, 1 << 20)
        except (ValueError, OSError):
            pass
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 16
    spare = (soft - in_use - 16) // 2
    if spare < 2:
        raise ShufBigError(f"too few file descriptors: the open-file limit is {soft}")
    return min(spare.bit_length() - 1, 16)


def parts_within(record: LongRecord, limit: int) -> Iterator[memoryview]:
    """A long record's parts; past ``limit`` bytes, read to its end and fail with its size."""
    size = 0
    for part in record.parts:
        size += len(part)
        if size > limit:
            size += sum(len(p) for p in record.parts)
            raise ShufBigError(
                f"record {record.index + 1} is {size} bytes ({format_size(size)}), "
                f"larger than the memory budget --mem {format_size(limit)}"
            )
        yield part


@dataclass
class Bucket:
    """A pair of temp files: records (in input order) and their encoded index gaps."""

    path: str
    prefix_bits: int
    nbytes: int
    nrecords: int

    @property
    def records_path(self) -> str:
        return self.path + ".rec"

    @property
    def gaps_path(self) -> str:
        return self.path + ".idx"

    def remove(self) -> None:
        for path in (self.records_path, self.gaps_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@dataclass
class BucketWriter:
    """Appends scattered batches to ``2**fanout_bits`` bucket files."""

    dirs: list[str]
    name: str
    prefix_bits: int
    fanout_bits: int
    nbytes: np.ndarray = field(init=False)
    nrecords: np.ndarray = field(init=False)
    last_index: np.ndarray = field(init=False)
    fds: list[tuple[int, int]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        n = 1 << self.fanout_bits
        self.nbytes = np.zeros(n, dtype=np.int64)
        self.nrecords = np.zeros(n, dtype=np.int64)
        self.last_index = np.full(n, -1, dtype=np.int64)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            for b in range(n):
                path = self.path(b)
                self.fds.append((os.open(path + ".rec", flags, 0o600), os.open(path + ".idx", flags, 0o600)))
        except OSError as err:
            self.close()
            raise ShufBigError(f"cannot create temporary file in '{self.dirs[0]}': {describe(err)}") from None

    def path(self, b: int) -> str:
        return os.path.join(self.dirs[b % len(self.dirs)], f"{self.name}{b:x}")

    def _error(self, b: int, err: OSError) -> ShufBigError:
        folder = os.path.dirname(self.path(b))
        return ShufBigError(f"write error in temporary directory '{folder}': {describe(err)}")

    def write(self, s: core.Scattered) -> None:
        """Append a scattered batch; batches must come in input order (gap coding)."""
        gaps, gap_bounds = core.encode_bucket_gaps(s, self.last_index)
        counts = s.counts
        for b in np.flatnonzero(counts).tolist():
            records_fd, gaps_fd = self.fds[b]
            try:
                write_all(records_fd, [memoryview(s.data[s.data_bounds[b] : s.data_bounds[b + 1]])])
                write_all(gaps_fd, [memoryview(gaps[gap_bounds[b] : gap_bounds[b + 1]]).cast("B")])
            except OSError as err:
                raise self._error(b, err) from None
        self.nbytes += np.diff(s.data_bounds)
        self.nrecords += counts

    def write_long(self, spec: core.KeySpec, record: LongRecord, limit: int) -> None:
        """Stream one record that does not fit the read buffer to its bucket."""
        indices = np.array([record.index], dtype=np.int64)
        b = int(core.bucket_ids(core.draw_keys(spec, indices), self.prefix_bits, self.fanout_bits)[0])
        records_fd, gaps_fd = self.fds[b]
        size = 0
        for part in parts_within(record, limit):
            size += len(part)
            try:
                write_all(records_fd, [part])
            except OSError as err:
                raise self._error(b, err) from None
        gaps = core.encode_gaps(indices, self.last_index[b : b + 1])
        try:
            write_all(gaps_fd, [memoryview(gaps).cast("B")])
        except OSError as err:
            raise self._error(b, err) from None
        self.last_index[b] = record.index
        self.nbytes[b] += size
        self.nrecords[b] += 1

    def close(self) -> None:
        for pair in self.fds:
            for fd in pair:
                os.close(fd)
        self.fds = []

    def buckets(self) -> list[Bucket]:
        """Close the files and return the non-empty buckets in key order."""
        self.close()
        out = []
        for b in range(1 << self.fanout_bits):
            bucket = Bucket(
                self.path(b), self.prefix_bits + self.fanout_bits, int(self.nbytes[b]), int(self.nrecords[b])
            )
            if bucket.nrecords:
                out.append(bucket)
            else:
                bucket.remove()
        return out


class LocalEngine:
    """Shuffle one input into one output on this machine within ``plan.mem`` bytes."""

    def __init__(
        self,
        plan: Plan,
        spec: core.KeySpec,
        temp: TempDirs,
        sep: int | bytes = 10,
        progress: bool = False,
    ) -> None:
        self.plan = plan
        self.spec = spec
        self.temp = temp
        self.sep = bytes([sep]) if isinstance(sep, int) else bytes(sep)
        self.progress = progress
        self.split_count = 0
        self.pool: ThreadPoolExecutor | None = None

    # -- the two paths -------------------------------------------------------------------

    def run(self, raw: RawReader, size: int | None, what: str, out: Sink, head_count: int | None = None) -> None:
        """Shuffle ``raw`` (``size`` bytes if known) into ``out``, with ``plan.jobs`` threads;
        with ``head_count``, write only that many first lines of the shuffle."""
        if self.plan.jobs == 1:
            self._run(raw, size, what, out, head_count)
            return
        with ThreadPoolExecutor(self.plan.jobs, thread_name_prefix="shuf-big") as self.pool:
            try:
                self._run(raw, size, what, out, head_count)
            finally:
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None

    def _head(self, raw: RawReader, what: str, out: Sink, count: int) -> None:
        """``-n COUNT`` in one streaming pass keeping the COUNT smallest keys: no temp files."""
        plan = self.plan
        selection = core.SmallestKeys(count, plan.piece)
        reader = RecordReader(raw, self.sep, plan.read_buffer, plan.max_records, Counter().take, what)
        with self._bar(None, "sampling") as bar:
            for item in reader:
                if isinstance(item, LongRecord):
                    record = self._load_long(item)
                    ends = np.array([len(record)], dtype=np.int64)
                    selection.offer(record, ends, core.draw_keys(self.spec, np.array([item.index])))
                else:
                    selection.offer(item.data, item.ends, core.draw_keys(self.spec, item.indices))
                if plan.order_need(selection.nbytes, selection.count) > plan.order_budget:
                    raise ShufBigError(
                        f"-n {count} keeps more lines than fit in --mem {format_size(plan.mem)}: "
                        "raise --mem, or pipe the whole shuffle to head"
                    )
                bar.update(reader.bytes_read - bar.n)
        del reader
        result = selection.result()
        out.expect(len(result.keys))
        with self._bar(None, "writing") as bar:
            self._emit(result, out, bar)

    def _load_long(self, record: LongRecord) -> np.ndarray:
        """A record too long for the read buffer, in memory (it must fit the budget)."""
        return np.frombuffer(b"".join(bytes(part) for part in parts_within(record, self.plan.mem)), dtype=np.uint8)

    def _run(self, raw: RawReader, size: int | None, what: str, out: Sink, head_count: int | None) -> None:
        plan = self.plan
        if head_count is not None and (size is None or size > plan.mem):
            self._head(raw, what, out, head_count)  # streaming: no need to probe for a fit
            return
        if size is None or size <= plan.mem:
            # Read what may fit: all of a small file (+1 byte to notice growth), or half
            # the budget of a stream, so that falling back to pass 1 stays in budget.
            room = len(self.sep)  # for a terminator the last record may lack
            probe = np.empty(size + 1 + room if size is not None else plan.mem // 2, dtype=np.uint8)
            filled = self._read_fully(raw, memoryview(probe[: len(probe) - room]), what)
            if filled < len(probe) - room:
                end = core.terminator(probe[:filled], self.sep)  # GNU shuf terminates it too
                terminated = filled + len(end)
                probe[filled:terminated] = np.frombuffer(end, dtype=np.uint8)
                counts = self._count(probe[:terminated])
                if plan.order_need(terminated, sum(counts)) <= plan.order_budget:
                    self._in_memory(probe[:terminated], counts, out, head_count)
                    return
            if size is not None and getattr(raw, "rewindable", False):
                del probe
                raw.rewind()  # type: ignore[attr-defined]
            else:
                raw = PrefixedReader(probe[:filled], raw)
                del probe
        if head_count is not None:
            self._head(raw, what, out, head_count)
        else:
            self._external(raw, size, what, out)

    def _read_fully(self, raw: RawReader, view: memoryview, what: str) -> int:
        """:func:`read_fully`, with positioned reads on all workers where the input allows."""
        parallel = getattr(raw, "readinto_parallel", None)
        if self.pool is None or parallel is None or len(view) < PARALLEL_MIN_BYTES:
            return read_fully(raw, view, what)
        filled = 0
        while filled < len(view):
            got = parallel(view[filled:], 4 * self.plan.jobs, self._map)
            if not got:
                break
            filled += got
        return filled

    def _ranges(self, size: int) -> list[tuple[int, int]]:
        """Byte ranges of an in-memory buffer that workers frame at once.

        Only a one-byte separator can be found from any starting point; a longer one
        (leftmost matches) is framed from the start, in one range.
        """
        if self.pool is None or len(self.sep) != 1 or size < PARALLEL_MIN_BYTES:
            return [(0, size)]
        n = 4 * self.plan.jobs
        cuts = [size * i // n for i in range(n + 1)]
        return list(itertools.pairwise(cuts))

    def _map(self, fn: Callable[..., Any], *args: Sequence[Any]) -> list[Any]:
        """``fn`` over the arguments, on the workers when there are several calls."""
        if self.pool is None or len(args[0]) < 2:
            return list(map(fn, *args))
        return list(self.pool.map(fn, *args))

    def _count(self, data: np.ndarray) -> list[int]:
        """The record count of each of :meth:`_ranges` of ``data``."""
        return self._map(lambda r: core.count_records(data[r[0] : r[1]], self.sep), self._ranges(len(data)))

    def _in_memory(self, data: np.ndarray, counts: list[int], out: Sink, head_count: int | None = None) -> None:
        nrecords = sum(counts)
        bounds = np.empty(nrecords + 1, dtype=np.int64)
        bounds[0] = 0
        firsts = np.cumsum([0, *counts]).tolist()
        window = max(self.plan.piece, 1 << 16)

        def frame(r: tuple[int, int], first: int, count: int) -> None:
            ends = bounds[1 + first : 1 + first + count]
            if core.ends_into(ends, data[r[0] : r[1]], self.sep, window, r[0]) != count:
                raise ShufBigError("the input changed while being read")

        self._map(frame, self._ranges(len(data)), firsts[:-1], counts)
        keys = np.empty(nrecords, dtype=np.uint64)

        def draw(lo: int) -> None:
            hi = min(lo + KEY_RANGE, nrecords)
            keys[lo:hi] = core.draw_keys(self.spec, np.arange(lo, hi, dtype=np.int64))

        self._map(draw, range(0, nrecords, KEY_RANGE))
        if head_count is not None and head_count < nrecords:
            selection = core.SmallestKeys(head_count, self.plan.piece)
            selection.offer(data, bounds[1:], keys)
            group = selection.result()
        else:
            group = core.GroupOrder(data, bounds, keys, self.plan.piece)
        out.expect(len(group.keys))
        with self._bar(len(data), "shuffling") as bar:
            self._emit(group, out, bar)

    def _external(self, raw: RawReader, size: int | None, what: str, out: Sink) -> None:
        dirs = self.temp.create()
        with self._bar(size, "pass 1/2: scatter") as bar:
            reader = RecordReader(raw, self.sep, self.plan.read_buffer, self.plan.max_records, Counter().take, what)
            buckets = self._scatter(reader, dirs, "b", 0, lambda first: self._fanout_bits(first, size), bar)
            del reader  # its read buffer is pass 2's memory now
        total = sum(b.nbytes for b in buckets)
        out.expect(sum(b.nrecords for b in buckets))
        with self._bar(total, "pass 2/2: order") as bar:
            self._order_buckets(deque(buckets), dirs, out, bar)

    # -- pass 1 and recursive splits -----------------------------------------------------

    def _fanout_bits(self, first: Batch | LongRecord, size: int | None) -> int:
        plan = self.plan
        if plan.fanout_bits is not None:
            bits = plan.fanout_bits
        elif size is None:
            bits = min(10, max((plan.read_buffer // 4096).bit_length() - 1, 1))
        else:
            if isinstance(first, Batch) and len(first.ends):
                avg = max(int(first.ends[-1]) / len(first.ends), 1.0)
            else:
                avg = float(plan.read_buffer)
            need = size + ORDER_BYTES_PER_RECORD * size / avg
            buckets = need / (BUCKET_FILL * plan.order_budget)
            bits = int(np.ceil(np.log2(max(buckets, 2))))
            self.temp.check_space(int(size * (1 + 2.1 / avg)) + (1 << 20))
        return bits

    def _scatter(
        self,
        reader: RecordReader,
        dirs: list[str],
        name: str,
        prefix_bits: int,
        choose_bits: Callable[[Batch | LongRecord], int],
        bar: tqdm,
    ) -> list[Bucket]:
        """Send every record of ``reader`` to a bucket file by its key bits.

        The fan-out is chosen once the first batch shows the typical record length.
        """
        plan = self.plan
        writer: BucketWriter | None = None
        # With workers, each batch in flight gets a copy of its bytes and an output buffer:
        # the reader reuses its own buffer for the next batch meanwhile.  Scattered batches
        # are written in input order (gap coding) by one writer thread, so the main thread
        # only reads and frames, and system calls overlap with scattering.
        slots = 1 if self.pool is None else plan.jobs + 1
        free = [(np.empty(plan.read_buffer, np.uint8), np.empty(plan.read_buffer, np.uint8)) for _ in range(slots)]
        pending: deque[tuple[Future[None], tuple[np.ndarray, np.ndarray]]] = deque()
        writes = ThreadPoolExecutor(1, thread_name_prefix="shuf-big-write") if self.pool is not None else None

        def write_oldest(keep: int) -> None:
            while len(pending) > keep:
                future, buffers = pending.popleft()
                future.result()
                free.append(buffers)

        def write_when_scattered(scattered: Future[core.Scattered]) -> None:
            assert writer is not None
            writer.write(scattered.result())

        try:
            for item in reader:
                if writer is None:
                    bits = max(min(choose_bits(item), plan.max_fanout_bits(), 64 - prefix_bits), 1)
                    writer = BucketWriter(dirs, name, prefix_bits, bits)
                if isinstance(item, LongRecord):
                    write_oldest(0)
                    writer.write_long(self.spec, item, plan.mem)
                elif self.pool is None or writes is None:
                    out = free[0][1]
                    writer.write(
                        core.scatter(
                            item.data,
                            item.ends,
                            item.indices,
                            self.spec,
                            prefix_bits,
                            writer.fanout_bits,
                            out,
                            plan.piece,
                        )
                    )
                else:
                    write_oldest(plan.jobs)
                    copy, out = free.pop()
                    size = int(item.ends[-1])
                    copy[:size] = item.data[:size]
                    task = (copy, item.ends, item.indices, self.spec, prefix_bits, writer.fanout_bits, out, plan.piece)
                    scattered = self.pool.submit(core.scatter, *task)
                    pending.append((writes.submit(write_when_scattered, scattered), (copy, out)))
                bar.update(reader.bytes_read - bar.n)
            write_oldest(0)
        except BaseException:
            for future, _ in pending:
                future.cancel()
            if writes is not None:
                writes.shutdown(wait=True, cancel_futures=True)  # before the files close under it
            if writer is not None:
                writer.close()
            raise
        finally:
            if writes is not None:
                writes.shutdown(wait=True)
        return writer.buckets() if writer is not None else []

    def _split(self, bucket: Bucket, dirs: list[str]) -> list[Bucket]:
        """Split a bucket too large for memory by the next key bits (no new randomness)."""
        self.split_count += 1
        plan = self.plan
        need = plan.order_need(bucket.nbytes, bucket.nrecords)
        bits = plan.fanout_bits or int(np.ceil(np.log2(max(need / (BUCKET_FILL * plan.order_budget), 2))))
        with open(bucket.records_path, "rb", buffering=0) as records, open(bucket.gaps_path, "rb", buffering=0) as gaps:
            where = f"temporary file '{bucket.records_path}'"
            indices = IndexStream(gaps, max(plan.max_records, 4096), where)
            reader = RecordReader(records, self.sep, plan.read_buffer, plan.max_records, indices.take, where)
            name = os.path.basename(bucket.path) + "-"
            buckets = self._scatter(reader, dirs, name, bucket.prefix_bits, lambda first: bits, tqdm(disable=True))
        bucket.remove()
        return buckets

    # -- pass 2 ----------------------------------------------------------------------------

    def _order_buckets(self, queue: deque[Bucket], dirs: list[str], out: Sink, bar: tqdm) -> None:
        """Order buckets in key order, loading as many consecutive ones as fit at once."""
        plan = self.plan
        while queue:
            first = queue.popleft()
            if plan.order_need(first.nbytes, first.nrecords) > plan.order_budget:
                if first.nrecords == 1:
                    self._copy_file(first, out, bar)
                else:
                    queue.extendleft(reversed(self._split(first, dirs)))
                    bar.set_postfix_str(f"{self.split_count} buckets split", refresh=False)
                continue
            group = [first]
            nbytes, nrecords = first.nbytes, first.nrecords
            while queue:
                nxt = queue[0]
                if plan.order_need(nbytes + nxt.nbytes, nrecords + nxt.nrecords) > plan.order_budget:
                    break
                group.append(queue.popleft())
                nbytes += nxt.nbytes
                nrecords += nxt.nrecords
            self._emit(self._order_group(group, nbytes, nrecords), out, bar)
            for bucket in group:
                bucket.remove()

    def _order_group(self, group: list[Bucket], nbytes: int, nrecords: int) -> core.GroupOrder:
        """Load a group's buckets (with workers, several at once: each fills its own slice
        of the group's bytes, offsets and keys) and cut it into sub-buckets."""
        data = np.empty(nbytes, dtype=np.uint8)
        bounds = np.empty(nrecords + 1, dtype=np.int64)
        bounds[0] = 0
        keys = np.empty(nrecords, dtype=np.uint64)
        window = max(self.plan.piece, 1 << 16)

        def load(bucket: Bucket, at: int, count: int) -> None:
            with open(bucket.records_path, "rb", buffering=0) as f:
                got = read_fully(f, memoryview(data[at : at + bucket.nbytes]), f"'{bucket.records_path}'")
            with open(bucket.gaps_path, "rb", buffering=0) as f:
                decoded = core.decode_gaps(np.fromfile(f, dtype=np.uint16))
            if got != bucket.nbytes or len(decoded) != bucket.nrecords:
                raise ShufBigError(f"temporary file '{bucket.records_path}' changed during the run")
            keys[count : count + bucket.nrecords] = core.draw_keys(self.spec, decoded)
            del decoded
            ends = bounds[count + 1 : count + 1 + bucket.nrecords]
            if core.ends_into(ends, data[at : at + bucket.nbytes], self.sep, window, at) != bucket.nrecords:
                raise ShufBigError("temporary files are corrupt (record count mismatch)")

        starts = np.cumsum([0] + [b.nbytes for b in group])
        counts = np.cumsum([0] + [b.nrecords for b in group])
        jobs = [(b, int(starts[i]), int(counts[i])) for i, b in enumerate(group)]
        if self.pool is None or len(jobs) == 1:
            for job in jobs:
                load(*job)
        else:
            for future in [self.pool.submit(load, *job) for job in jobs]:
                future.result()
        return core.GroupOrder(data, bounds, keys, self.plan.piece)

    def _emit(self, group: core.GroupOrder, out: Sink, bar: tqdm) -> None:
        """Write a group's sub-buckets in order; with workers, build the next ones meanwhile.

        At most ``jobs`` sub-buckets are built ahead of the one being written, so the
        memory in flight is bounded (counted in the plan's scratch).
        """
        if self.pool is None:
            for b in range(group.count):
                bar.update(out.write(group.parts(b)))
            return
        ahead: deque[Future[list[memoryview]]] = deque()
        try:
            for b in range(group.count):
                ahead.append(self.pool.submit(group.parts, b))
                if len(ahead) > self.plan.jobs:
                    bar.update(out.write(ahead.popleft().result()))
            while ahead:
                bar.update(out.write(ahead.popleft().result()))
        finally:
            for future in ahead:
                future.cancel()

    def _copy_file(self, bucket: Bucket, out: Sink, bar: tqdm) -> None:
        """Write a bucket of one record larger than the ordering budget, streaming it."""
        buffer = np.empty(self.plan.read_buffer, dtype=np.uint8)
        view = memoryview(buffer)
        with open(bucket.records_path, "rb", buffering=0) as f:
            while got := read_fully(f, view, f"'{bucket.records_path}'"):
                bar.update(out.write([view[:got]]))
        bucket.remove()

    def _bar(self, total: int | None, desc: str) -> tqdm:
        return tqdm(
            total=total,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )


def separator_of(zero_terminated: bool, record_separator: str | bytes | None) -> tuple[bytes, bool]:
    """The record separator as bytes, and whether it is paragraph mode (``''``)."""
    if record_separator is None:
        return (b"\0" if zero_terminated else b"\n"), False
    if zero_terminated:
        raise ShufBigError("-z and --record-separator cannot be combined")
    if isinstance(record_separator, str):
        record_separator = os.fsencode(record_separator)
    return (PARAGRAPH_END, True) if record_separator == b"" else (bytes(record_separator), False)


def shuffle(
    src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "-",
    dst: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "-",
    *,
    mem: int | str = DEFAULT_MEM,
    seed: int | None = None,
    tmp_dirs: list[str] | None = None,
    jobs: int | None = None,
    zero_terminated: bool = False,
    record_separator: str | bytes | None = None,
    header: int = 0,
    decompress: str | None = None,
    shards: int | None = None,
    aligned: bool = False,
    progress: bool = False,
    head_count: int | None = None,
    echo: Sequence[str | bytes] | None = None,
    input_range: tuple[int, int] | str | None = None,
    repeat: bool = False,
    random_source: str | os.PathLike[str] | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    temp_url: str | None = None,
    quiet: bool = False,
) -> None:
    """Shuffle the records of ``src`` into ``dst`` in a uniformly random order.

    Parameters
    ----------
    src : path, ``"-"``, or a list of them
        Input(s); ``"-"`` is stdin.  Several inputs are shuffled together as one corpus.
        ``.gz``, ``.bz2``, ``.xz`` and ``.zst`` files are decompressed (zstd needs the
        ``shuf-big[zstd]`` extra).
    dst : path or ``"-"`` (a list of them with ``aligned``)
        Output, replaced atomically (it may be the same file as ``src``) and compressed
        by its extension.  With ``shards``, a pattern such as
        ``"train-{shard:05d}-of-{shards:05d}.jsonl.gz"``.
    mem : int or str
        Memory budget for the whole run: bytes or a size like ``"4G"``, ``"512M"``,
        ``"25%"`` (of physical RAM).  Inputs that fit are shuffled in memory; larger ones
        go through temp files in ``tmp_dirs``.
    seed : int, optional
        0 to 2**64-1.  The same seed gives the same output bytes whatever ``mem``,
        ``jobs`` or ``tmp_dirs``; None draws one from the operating system.
    tmp_dirs : list of str, optional
        Where bucket files go (spread over all of them); default ``$TMPDIR`` or the
        system temp dir.
    jobs : int, optional
        Worker threads (default: the CPUs available).  The budget is shared by all of
        them, and the output does not depend on their number.
    zero_terminated : bool
        Records end with NUL instead of newline.
    record_separator : str or bytes, optional
        Records end with this string instead (several bytes allowed); ``""`` means
        documents separated by blank lines, written with one blank line between them.
    header : int
        The first ``header`` records of the first input stay on top, unshuffled (on top
        of every shard); those of later inputs are dropped.
    decompress : {"gzip", "bz2", "xz", "zstd"}, optional
        Decompress every input with this format, whatever its name (for stdin).
    shards : int, optional
        Write this many files of near-equal record counts, named by the ``dst`` pattern.
    aligned : bool
        ``src`` and ``dst`` are lists of equal length whose inputs correspond record by
        record (parallel corpora): every input gets the same permutation.  Record counts
        must agree; this is checked before anything is written.
    progress : bool
        Show a tqdm bar on stderr.
    head_count : int, optional
        Write at most this many records: exactly the first ones of the full shuffle with
        the same seed, found in one streaming pass in memory for about twice that many
        records, with no temp files (GNU ``shuf -n``).  0 does not open ``src`` (nor
        ``random_source``).  With ``repeat``: the number of draws.
    echo : sequence of str or bytes, optional
        GNU ``shuf -e``: these are the records (``src`` is ignored).  ``str`` operands are
        encoded with :func:`os.fsencode`.
    input_range : (lo, hi) or "LO-HI", optional
        GNU ``shuf -i``: the records are the decimal numbers ``lo..hi`` (0 to 2**64-1;
        ``hi = lo - 1`` is empty); record ``i`` is ``lo + i``.  Generated in bounded
        chunks, never materialised; with ``head_count`` below the range's size the first
        lines are found from the inverse of the key function when that is cheaper than
        enumerating the range, so ``-n 3`` on a 2**64-number range is instant.
    repeat : bool
        GNU ``shuf -r``: write ``head_count`` records (endlessly if None) each drawn
        independently and uniformly with replacement, from a counter-based stream of the
        seed.  File or stdin records must all fit ``mem``; ``-i`` ranges are never
        materialised.  No records is an error ("no lines to repeat").
    random_source : path, optional
        GNU ``shuf --random-source``: the seed is the BLAKE2b (``digest_size=8``, big-endian)
        digest of at most the first 32 bytes of this file; an empty file is an error.
        Exclusive with ``seed``.
    engine : {"local", "dask"}
        ``"dask"`` runs the same shuffle as tasks on a Dask cluster (extra
        ``shuf-big[dask]``); ``src``, ``dst`` and ``temp_url`` may then be fsspec URLs
        (``s3://``, ``gs://``, ``memory://``...).  The output is the local engine's, byte
        for byte (compressed outputs: after decompression).  ``mem`` is per worker;
        ``jobs`` is the number of workers of the ``LocalCluster`` started when no
        ``scheduler`` is given.  Not with ``head_count``, ``echo``, ``input_range``,
        ``repeat``, ``aligned`` or paragraph mode.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); needs ``temp_url``.
    temp_url : str, optional
        Where the Dask engine's temp files go: storage every worker can reach (default:
        the first of ``tmp_dirs``, enough for a ``LocalCluster``).
    quiet : bool
        Do not print the Dask dashboard's address when a ``LocalCluster`` starts.

    Raises
    ------
    ShufBigError
        On any failure, with a one-line message; the destination is left untouched and
        temp files are removed.
    """
    try:
        budget = parse_size(mem)
    except ValueError as err:
        raise ShufBigError(f"invalid --mem: {err}") from None
    plan = Plan.for_budget(budget, jobs=default_jobs() if jobs is None else jobs)
    from . import gnu  # gnu builds on this module

    if echo is not None and input_range is not None:
        raise ShufBigError("cannot combine -e and -i options")
    if isinstance(input_range, str):
        input_range = gnu.parse_input_range(input_range)
    elif input_range is not None and not 0 <= input_range[0] <= input_range[1] + 1 <= core.MASK64 + 1:
        raise ShufBigError(f"invalid input range: '{input_range[0]}-{input_range[1]}'")
    if random_source is not None:
        if seed is not None:
            raise ShufBigError("cannot combine --random-source and --seed options")
        if head_count != 0:  # as GNU shuf: -n 0 opens nothing
            seed = gnu.seed_from_random_source(random_source)
    if seed is None:
        seed = secrets.randbits(64)
    try:
        spec = core.KeySpec.from_seed(int(seed))
    except ValueError as err:
        raise ShufBigError(f"invalid --seed: {err}") from None
    dirs = [os.fspath(d) for d in tmp_dirs] if tmp_dirs else default_temp_dirs()
    for d in dirs:
        if not os.path.isdir(d):
            raise ShufBigError(f"cannot use temporary directory '{d}': No such directory")
    if head_count is not None and head_count < 0:
        raise ShufBigError(f"invalid line count: '{head_count}'")
    if header < 0:
        raise ShufBigError(f"invalid --header: {header}")
    sep, paragraphs = separator_of(zero_terminated, record_separator)
    srcs = _paths(src)
    if engine != "local":
        if engine != "dask":
            raise ShufBigError(f"unknown engine '{engine}' (use local or dask)")
        for name, used in (
            ("-n", head_count is not None),
            ("-e", echo is not None),
            ("-i", input_range is not None),
            ("-r", repeat),
            ("--aligned", aligned),
            ("--record-separator ''", paragraphs),
        ):
            if used:
                raise ShufBigError(f"--engine dask cannot be combined with {name}")
        from .dask_engine import DaskRun

        dsts = _paths(dst)
        if len(dsts) > 1:
            raise ShufBigError("multiple output files specified")
        DaskRun(
            srcs,
            dsts[0],
            shards,
            sep,
            spec,
            plan.mem,
            header,
            decompress,
            scheduler,
            temp_url,
            dirs,
            plan.jobs,
            progress,
            quiet,
        ).run()
        return
    if scheduler is not None or temp_url is not None:
        raise ShufBigError("--scheduler and --temp-url need --engine dask")
    if echo is not None or input_range is not None or repeat:
        from . import gnu  # gnu builds on this module

        for name, used in (
            ("--record-separator", record_separator is not None),
            ("--header", header != 0),
            ("--shards", shards is not None),
            ("--aligned", aligned),
            ("--decompress", decompress is not None),
        ):
            if used:
                raise ShufBigError(f"-e, -i and -r cannot be combined with {name}")
        if head_count != 0:
            tune_for_budget(plan.mem)
            dsts = _paths(dst)
            if len(dsts) > 1:
                raise ShufBigError("multiple output files specified")
            gnu.run(srcs, dsts[0], plan, spec.seed, dirs, sep[0], progress, head_count, echo, input_range, repeat)
            return
    run_shuffle(
        srcs,
        _paths(dst),
        plan,
        spec,
        dirs,
        sep,
        progress,
        head_count,
        header=header,
        decompress=decompress,
        paragraphs=paragraphs,
        shards=shards,
        aligned=aligned,
    )


def _paths(where: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(where, (str, os.PathLike)):
        return [os.fspath(where)]
    return [os.fspath(p) for p in where]


def run_shuffle(
    src: str | list[str],
    dst: str | list[str],
    plan: Plan,
    spec: core.KeySpec,
    dirs: list[str],
    sep: int | bytes,
    progress: bool,
    head_count: int | None = None,
    *,
    header: int = 0,
    decompress: str | None = None,
    paragraphs: bool = False,
    shards: int | None = None,
    aligned: bool = False,
) -> LocalEngine:
    """Open the inputs and outputs, run the engine, and clean up whatever happens.

    Every output is committed (renamed into place) only after all of them are complete,
    so a failure leaves every existing destination untouched.
    """
    tune_for_budget(plan.mem)
    token = PARAGRAPH_END if paragraphs else bytes([sep]) if isinstance(sep, int) else bytes(sep)
    engine = LocalEngine(plan, spec, TempDirs(dirs), token, progress)
    srcs = [src] if isinstance(src, str) else src
    dsts = [dst] if isinstance(dst, str) else dst
    groups = [[path] for path in srcs] if aligned else [srcs]
    if aligned and len(srcs) < 2:
        raise ShufBigError("--aligned needs at least two inputs")
    if len(dsts) != len(groups):
        if aligned:
            raise ShufBigError(f"--aligned needs one -o per input: {len(srcs)} inputs, {len(dsts)} outputs")
        raise ShufBigError("multiple output files specified")
    if shards is not None and shards < 1:
        raise ShufBigError(f"invalid number of shards: {shards}")
    trim = b"\n" if paragraphs else b""
    outs = [open_output(path, shards, token, trim) for path in dsts]
    if head_count == 0:  # as GNU shuf: the input is not even opened
        inputs: list[Inputs] = []
    else:
        inputs = [Inputs(paths, token, header, decompress, paragraphs) for paths in groups]
    try:
        for inp in inputs:
            inp.prime()
        for out in outs:
            out.open()
        if aligned and inputs:
            _check_aligned(inputs, plan)
        for inp, out in zip(inputs, outs, strict=False):
            out.set_header(inp.header)
            engine.run(inp, inp.size, inp.what, out, head_count)
            inp.close()
        for out in outs:
            if not inputs:
                out.expect(0)
            out.commit()
        return engine
    finally:
        for out in outs:
            out.discard()
        engine.temp.remove()
        for inp in inputs:
            inp.close()


def _check_aligned(inputs: list[Inputs], plan: Plan) -> None:
    """Fail, before anything is written, if aligned inputs differ in record count."""
    counts = [count_in(inp, plan.read_buffer) for inp in inputs]
    if len(set(counts)) > 1:
        listing = ", ".join(f"{inp.what} has {n}" for inp, n in zip(inputs, counts, strict=True))
        raise ShufBigError(f"--aligned inputs differ in record count: {listing}")


def run_stream(
    raw: RawReader, size: int | None, what: str, dst: str, engine: LocalEngine, head_count: int | None
) -> LocalEngine:
    """Shuffle an open input (``size`` bytes if known; then it must support ``seek(0)``)
    into ``dst`` (compressed by its name) with ``engine``, committing it only on success."""
    out = open_output(dst, None, engine.sep)
    try:
        out.open()
        engine.run(raw, size, what, out, head_count)
        out.commit()
        return engine
    finally:
        out.discard()
        engine.temp.remove()
