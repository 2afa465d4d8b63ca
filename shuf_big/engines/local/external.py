"""The two-pass external shuffle: pass 1 scatters records to bucket files by key bits,
pass 2 orders each bucket (or several small ones at once) by key and writes it.

A bucket that comes out larger than the ordering budget (skewed line lengths, a stream of
unknown size, a fan-out capped by open files) is split by its next key bits, recursively:
no new randomness, so the output does not depend on how often that happens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from shuf_big import core
from shuf_big.budget.malloc import Arena
from shuf_big.engines.local import temp_space
from shuf_big.engines.local.buckets import Bucket, BucketWriter
from shuf_big.engines.local.workers import Context
from shuf_big.errors import ShufBigError
from shuf_big.files.outputs import Sink
from shuf_big.files.protocol import Reader
from shuf_big.files.records import (
    Batch,
    Counter,
    IndexStream,
    LongRecord,
    RecordReader,
    Span,
    read_fully,
)
from shuf_big.job import Stats
from shuf_big.system.progress import Phase, expected_size, input_name, position
from shuf_big.system.signals import checkpoint
from shuf_big.system.tempfiles import TempDirs

# Index gaps decoded at a time when a bucket is loaded.
GAP_CHUNK = 1 << 16
# A scattered batch, and its buckets' records as frames when temp files are compressed.
Packed = tuple[core.Scattered, list[memoryview] | None]


class External:
    """Shuffle a stream too large for the budget through temp files in ``temp``, adding
    to ``stats`` the buckets of pass 1, the bytes written to them and pass 2's splits."""

    def __init__(self, ctx: Context, temp: TempDirs, stats: Stats) -> None:
        self.ctx = ctx
        self.temp = temp
        self.stats = stats
        self.arena = Arena()  # pass 2's group arrays, reused group after group
        self.packed = False  # temp files compressed (chosen when pass 1 sees its first chunk)

    def run(self, raw: Reader, size: int | None, what: str, out: Sink) -> tuple[int, int]:
        """Shuffle ``raw`` into ``out``: the records and bytes read."""
        self.temp.create()
        with self.ctx.bar("pass 1/2: scatter") as bar:
            counter = Counter()
            reader = RecordReader(
                raw, self.ctx.sep, self.ctx.plan.read_buffer, self.ctx.plan.max_records, counter.take, what
            )
            # a one-byte separator: batches are only counted here, framed where they are scattered
            items = reader.spans(counter) if len(self.ctx.sep) == 1 else iter(reader)

            def progress(reading: RecordReader) -> None:
                bar.describe(input_name(raw))
                bar.advance_to(position(raw, reading.bytes_read))
                checkpoint("pass 1 started")

            choose = lambda first, read: self._fanout_bits(first, size, raw, read)  # noqa: E731
            buckets = self._scatter(reader, items, "b", 0, choose, progress)
            del reader  # its read buffer is pass 2's memory now
        checkpoint("pass 1 done")
        total, records = sum(b.nbytes for b in buckets), sum(b.nrecords for b in buckets)
        self.stats.buckets += len(buckets)
        out.expect(records, total)
        with self.ctx.bar("pass 2/2: order", writes=total) as bar:
            try:
                self._order_buckets(deque(buckets), out, bar)
            finally:
                self.arena.release()
        return records, total

    def _fanout_bits(self, first: Batch | Span | LongRecord, size: int | None, raw: Reader, read: int) -> int:
        """Pass 1's fan-out, from the input's size, or for compressed inputs the size their
        compression ratio so far foretells (a misestimate only costs splits or small buckets)."""
        plan = self.ctx.plan
        if isinstance(first, Batch) and len(first.ends):
            avg = max(int(first.ends[-1]) / len(first.ends), 1.0)
        elif isinstance(first, Span):
            avg = max(first.size / first.count, 1.0)
        else:
            avg = float(plan.read_buffer)
        # Compress or not; fail now if the temp space is too small; warn if it is in RAM.
        expected = size if size is not None else expected_size(raw, read)
        self.packed = temp_space.choose(plan.compress_temp, self.temp, first, avg, size, expected)
        self.stats.temp_compressed = self.packed
        if plan.fanout_bits is not None:
            return plan.fanout_bits
        if expected is None:
            return min(10, max((plan.read_buffer // 4096).bit_length() - 1, 1))
        return plan.bucket_bits(plan.order_need(expected, int(expected / avg)))

    def _scatter(
        self,
        reader: RecordReader,
        items: Iterator[Batch | Span | LongRecord],
        name: str,
        prefix_bits: int,
        choose_bits: Callable[[Batch | Span | LongRecord, int], int],
        progress: Callable[[RecordReader], None],
    ) -> list[Bucket]:
        """Send every record of ``items`` (read by ``reader``) to a bucket file by its key bits.

        The fan-out is chosen once the first batch shows the typical record length, within
        the descriptors free now (the buckets of earlier levels are still open).
        """
        plan = self.ctx.plan
        writer: BucketWriter | None = None
        scatter: Scatter | None = None
        try:
            for item in items:
                if scatter is None:
                    free = self.temp.fanout_bits()
                    bits = max(
                        min(choose_bits(item, reader.bytes_read), plan.max_fanout_bits(), free, 64 - prefix_bits), 1
                    )
                    writer = BucketWriter(self.temp, name, prefix_bits, bits, self.packed)
                    scatter = Scatter(self.ctx, writer)
                if isinstance(item, LongRecord):
                    scatter.long(item)
                else:
                    scatter.batch(item)
                progress(reader)
            if scatter is not None:
                scatter.drain(0)
        except BaseException:
            if scatter is not None:
                scatter.abort()  # before the files close under its writer thread
            if writer is not None:
                writer.close()
            raise
        finally:
            if scatter is not None:
                scatter.shutdown()
        buckets = writer.buckets() if writer is not None else []
        self.stats.temp_bytes += sum(bucket.temp_bytes() for bucket in buckets)
        self.stats.temp_plain += sum(bucket.plain_bytes() for bucket in buckets)
        return buckets

    def _split(self, bucket: Bucket, name: str) -> list[Bucket]:
        """Split a bucket too large for memory by the next key bits (no new randomness)."""
        self.stats.splits += 1
        plan = self.ctx.plan
        need = plan.order_need(bucket.nbytes, bucket.nrecords)
        bits = plan.fanout_bits or plan.bucket_bits(need)
        records, gaps = bucket.streams()
        indices = IndexStream(gaps, max(plan.max_records, 4096), bucket.gaps.what)
        reader = RecordReader(records, self.ctx.sep, plan.read_buffer, plan.max_records, indices.take, bucket.what)
        choose = lambda first, read: bits  # noqa: E731
        buckets = self._scatter(reader, iter(reader), name + "-", bucket.prefix_bits, choose, lambda _: None)
        checkpoint("bucket split")
        bucket.remove()
        return buckets

    def _order_buckets(self, queue: deque[Bucket], out: Sink, bar: Phase) -> None:
        """Order buckets in key order, loading as many consecutive ones as fit at once."""
        plan = self.ctx.plan
        while queue:
            first = queue.popleft()
            if plan.order_need(first.nbytes, first.nrecords, partitioned=False) > plan.order_budget:
                self.arena.release()  # the split's buffers take its memory
                if first.nrecords == 1:
                    self._copy_file(first, out, bar)
                else:
                    queue.extendleft(reversed(self._split(first, f"s{self.stats.splits:x}")))
                    bar.set_postfix_str(f"{self.stats.splits} buckets split", refresh=False)
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
            # the last group is written: its arrays are dead.  The arena may be as large
            # as the budget leaves beside this group's temporaries.
            partitioned = plan.partitioned(nbytes, nrecords)
            arrays = core.group_arrays(nbytes, nrecords, partitioned)
            self.arena.reset(arrays, arrays + plan.order_budget - plan.order_need(nbytes, nrecords, partitioned))
            self.ctx.workers.emit(self._order_group(group, nbytes, nrecords, partitioned), out, bar)
            for bucket in group:
                bucket.remove()
            checkpoint("pass 2 started")

    def _order_group(self, group: list[Bucket], nbytes: int, nrecords: int, partitioned: bool) -> core.GroupOrder:
        """Load a group's buckets (with workers, several at once: each fills its own slice
        of the group's bytes, offsets and keys) and cut it into sub-buckets."""
        empty = self.arena.empty
        data = empty(nbytes, np.uint8)
        bounds = empty(nrecords + 1, np.int64)
        bounds[0] = 0
        keys = empty(nrecords, np.uint64)
        window = max(self.ctx.plan.piece, 1 << 16)

        workers = self.ctx.workers
        alone = not workers.parallel or len(group) == 1  # loaded here, not on a worker

        def load(bucket: Bucket, at: int, count: int) -> None:
            # a bucket loaded alone is decoded on every worker
            run, parts = (workers.map, 2 * workers.jobs) if alone and workers.parallel else (None, 1)
            got = bucket.records_into(memoryview(data[at : at + bucket.nbytes]), run, parts)
            if got != bucket.nbytes or self._keys_wrong(bucket, keys[count : count + bucket.nrecords]):
                raise ShufBigError(f"{bucket.what} changed during the run")
            ends = bounds[count + 1 : count + 1 + bucket.nrecords]
            if core.ends_into(ends, data[at : at + bucket.nbytes], self.ctx.sep, window, at) != bucket.nrecords:
                raise ShufBigError("temporary files are corrupt (record count mismatch)")

        starts = np.cumsum([0] + [b.nbytes for b in group])
        counts = np.cumsum([0] + [b.nrecords for b in group])
        jobs = [(b, int(starts[i]), int(counts[i])) for i, b in enumerate(group)]
        if alone:
            for job in jobs:
                load(*job)
        else:
            for future in [workers.submit(load, *job) for job in jobs]:
                future.result()
        return core.GroupOrder(data, bounds, keys, self.ctx.plan.piece, partitioned, empty)

    def _keys_wrong(self, bucket: Bucket, keys: np.ndarray) -> bool:
        """Fill ``keys`` from the bucket's index gaps, decoded a chunk at a time (so the
        temporaries stay small beside the group's arrays); True if the record count is wrong."""
        decoder = core.GapDecoder()
        chunk = np.empty(GAP_CHUNK, dtype=np.uint16)
        filled = 0
        gaps = bucket.gap_stream()
        while True:
            got = read_fully(gaps, memoryview(chunk).cast("B"), bucket.gaps.what)
            if not got:
                return filled != len(keys)
            indices = decoder.feed(chunk[: got // 2])
            if filled + len(indices) > len(keys):
                return True
            keys[filled : filled + len(indices)] = core.draw_keys(self.ctx.spec, indices)
            filled += len(indices)

    def _copy_file(self, bucket: Bucket, out: Sink, bar: Phase) -> None:
        """Write a bucket of one record larger than the ordering budget, streaming it."""
        buffer = np.empty(self.ctx.plan.read_buffer, dtype=np.uint8)
        view = memoryview(buffer)
        records, _ = bucket.streams()
        while got := read_fully(records, view, bucket.what):
            bar.update(out.write([view[:got]]))
        bucket.remove()


class Scatter:
    """Pass 1's pipeline: batches scattered by key bits and appended to ``writer``'s files.

    Without workers each batch is scattered inline.  With workers, each batch in flight
    gets a copy of its bytes and an output buffer (the reader reuses its own buffer for the
    next batch meanwhile), and one writer thread appends scattered batches in input order
    (gap coding needs it), so the main thread only reads and counts (spans are framed by
    the worker that scatters them) and system calls overlap with scattering.
    """

    def __init__(self, ctx: Context, writer: BucketWriter) -> None:
        self.ctx = ctx
        self.writer = writer
        plan = ctx.plan
        slots = plan.jobs + 1 if ctx.workers.parallel else 1
        self.free = [(np.empty(plan.read_buffer, np.uint8), np.empty(plan.read_buffer, np.uint8)) for _ in range(slots)]
        self.pending: deque[tuple[Future[None], tuple[np.ndarray, np.ndarray]]] = deque()
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="shuf-big-write") if ctx.workers.parallel else None

    def _scatter(self, data: np.ndarray, item: Batch | Span, out: np.ndarray) -> Packed:
        """Scatter a batch (on a worker), and compress it when temp files are."""
        if isinstance(item, Span):  # frame it here, on this worker
            window = max(self.ctx.plan.max_records, 4096)
            ends = core.find_ends(data[: item.size], self.ctx.sep, item.count, window)
            if len(ends) != item.count:
                raise ShufBigError("the input changed while being read")
            indices = np.arange(item.first, item.first + item.count, dtype=np.int64)
        else:
            ends, indices = item.ends, item.indices
        w = self.writer
        s = core.scatter(data, ends, indices, self.ctx.spec, w.prefix_bits, w.fanout_bits, out, self.ctx.plan.piece)
        return s, w.pack(s)

    def batch(self, item: Batch | Span) -> None:
        if self.writes is None:
            self.writer.write(*self._scatter(item.data, item, self.free[0][1]))
            return
        self.drain(self.ctx.plan.jobs)
        copy, out = self.free.pop()
        size = item.size if isinstance(item, Span) else int(item.ends[-1])
        copy[:size] = item.data[:size]
        scattered = self.ctx.workers.submit(self._scatter, copy, item, out)
        self.pending.append((self.writes.submit(self._write, scattered), (copy, out)))

    def _write(self, scattered: Future[Packed]) -> None:
        self.writer.write(*scattered.result())

    def long(self, item: LongRecord) -> None:
        """A record longer than the read buffer, streamed to its bucket after the batches before it."""
        self.drain(0)
        self.writer.write_long(self.ctx.spec, item, self.ctx.plan.mem)

    def drain(self, keep: int) -> None:
        """Wait until at most ``keep`` batches are in flight."""
        while len(self.pending) > keep:
            future, buffers = self.pending.popleft()
            future.result()
            self.free.append(buffers)

    def abort(self) -> None:
        for future, _ in self.pending:
            future.cancel()
        if self.writes is not None:
            self.writes.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        if self.writes is not None:
            self.writes.shutdown(wait=True)
