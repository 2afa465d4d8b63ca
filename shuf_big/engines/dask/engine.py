"""The Dask engine: the local engine's shuffle as tasks on a Dask cluster, storage via fsspec.

The driver (:class:`DaskEngine`) cuts the inputs into blocks, runs the four stages of
:mod:`shuf_big.engines.dask.tasks` (count, map, reduce, concat) and commits the outputs.  Keys
depend only on the seed and a record's global index, and buckets are ranges of key bits,
so the output is the local engine's byte for byte.  Compressed outputs hold the same
bytes after decompression: one compressed stream per piece, concatenated (valid gzip,
bzip2, xz and zstd).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.util
import logging
import secrets
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from shuf_big import core
from shuf_big.budget.malloc import without_huge_pages
from shuf_big.budget.plan import MAX_FANOUT_BITS, MIN_MEM, Plan
from shuf_big.engines.dask.reduce import release_memory
from shuf_big.engines.dask.spills import BUCKET, RECORDS, SPILL, spill_packing
from shuf_big.engines.dask.stages import Outputs, Pending, Submit, run_reduces
from shuf_big.engines.dask.tasks import (
    MAP_CHUNK,
    Block,
    Extent,
    Settings,
    count_block,
    cut,
    gathers_runs,
    map_block,
    overlaps_itself,
)
from shuf_big.engines.preflight import check_job, store_for
from shuf_big.errors import ShufBigError, missing_extra
from shuf_big.files.compression import codec_for, compression_of
from shuf_big.files.headers import Headers, split_header
from shuf_big.files.outputs import Output
from shuf_big.files.records import read_fully
from shuf_big.files.shards import shard_names
from shuf_big.job import Job, Result, Stats
from shuf_big.storage.objects import open_object
from shuf_big.storage.store import Store
from shuf_big.storage.urls import filesystem, is_url
from shuf_big.system.progress import task_bar
from shuf_big.system.tempfiles import owner_tag, scratch_dir


def _imports() -> tuple[Any, Any]:
    """``distributed`` and ``fsspec``, or a one-line error saying how to get them."""
    try:
        import distributed
        import fsspec
    except ImportError:
        raise missing_extra("--engine dask needs Dask and fsspec", "dask") from None
    return distributed, fsspec


# Long records' buckets are planned this many bits smaller: ordering them costs little
# beyond loading them, and each worker first touches less memory (measured, docs at
# --mem 256M, 2 workers: 3.03-3.20 s -> 1.74-2.15 s; short records' would cost 10-15 %
# more CPU in 4x the reduce tasks).
LONG_RECORD_BITS = 2


def fanout_bits_for(nbytes: int, nrecords: int, mem: int, workers: int) -> int:
    """Bucket-count bits: buckets planned at half a task's ordering budget (as the local
    engine; a quarter of that for long records), and at least two per worker so that
    every worker has reduce tasks."""
    plan = Plan.for_budget(mem)
    bits = plan.bucket_bits(plan.order_need(nbytes, nrecords), at_least=max(2 * workers, 1))
    return min(bits + (0 if core.worth_partitioning(nbytes, nrecords) else LONG_RECORD_BITS), MAX_FANOUT_BITS)


def bucket_rows(indexes: list[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """Gather the spill files' index rows by bucket: (non-empty buckets in key order, their
    rows, each with the number of its spill file appended as column ``SPILL``)."""
    tagged = [np.column_stack((rows, np.full(len(rows), k, dtype=np.int64))) for k, rows in enumerate(indexes)]
    table = np.concatenate(tagged) if tagged else np.empty((0, SPILL + 1), dtype=np.int64)
    if not len(table):
        return [], []
    table = table[np.argsort(table[:, BUCKET], kind="stable")]
    buckets, starts = np.unique(table[:, BUCKET], return_index=True)
    return buckets.tolist(), np.split(table, starts[1:])


def map_span(nbytes: int, workers: int, read: int) -> int:
    """The bytes of input one map task reads: about four tasks per worker (fewer, larger
    tasks cost less per byte; more balance the workers), within [one read, 1 GiB]."""
    return min(max(read, -(-nbytes // (4 * max(workers, 1)))), 1 << 30)


class DaskEngine:
    """One shuffle on a cluster: plans the stages, submits them and commits the outputs."""

    name = "dask"
    supports = frozenset({"record_separator", "header", "shards", "decompress", "cluster"})
    refusal = "--engine dask cannot be combined with {option}"
    store: Store | None = None  # set by check: the inputs' listings, for run
    packed = False  # spill files compressed (chosen once the inputs are counted)

    def check(self, job: Job) -> None:
        _imports()
        if "-" in job.inputs:
            raise ShufBigError("--engine dask reads files or URLs, not standard input")
        if not all(isinstance(where, str) for where in (*job.inputs, *job.outputs)):
            raise ShufBigError("--engine dask reads and writes files or URLs, not file objects")
        if job.scheduler and not job.temp_url:
            raise ShufBigError("--engine dask with --scheduler needs --temp-url on storage every worker can reach")
        self.store = store_for(job)
        check_job(job, self.store)

    def run(self, job: Job) -> Result:
        self.job = job
        distributed, _ = _imports()
        blocks, heads = self._blocks()
        outputs = self._outputs()
        # Named like the local engine's temp dirs, so a later run on this host reaps it if this one is killed.
        run_name = f"shuf-big-{owner_tag()}{secrets.token_hex(8)}"
        run_url = f"{(self.job.temp_url or self.job.temp_dirs[0]).rstrip('/')}/{run_name}"
        fs, run_path = filesystem(run_url, job.storage_options)
        pending: list[Pending] = []
        scratch: list[str] = []  # the local cluster's scratch space, removed with it
        cluster = client = None
        try:
            for out in outputs:
                if isinstance(out, Output):
                    out.open()
            fs.makedirs(run_path, exist_ok=True)
            if self.job.scheduler:
                client = distributed.Client(self.job.scheduler)
            else:
                cluster, client = self._local_cluster(distributed, scratch)
            self._stages(client, cluster is not None, distributed, blocks, heads, outputs, run_url, pending)
            for out in outputs:
                if isinstance(out, Output):
                    out.commit()
            for done in pending:
                done.commit()
            pending = []
            # The workers count what they write; only these figures are known here.
            stats = Stats(records_in=None, bytes_in=None, paths=["dask"], temp_compressed=self.packed)
            return Result.of(job, stats, None, None)
        finally:
            for out in outputs:
                if isinstance(out, Output):
                    out.discard()
            for done in pending:
                done.discard()
            if client is not None:
                if cluster is None:
                    with contextlib.suppress(Exception):
                        client.run(release_memory)  # a shared cluster's workers live on
                client.close()
            if cluster is not None:
                cluster.close()
            for path in scratch:
                shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(Exception):
                fs.rm(run_path, recursive=True)

    def _local_cluster(self, distributed: Any, scratch: list[str]) -> tuple[Any, Any]:
        """A LocalCluster of ``-j`` single-thread worker processes, and its client."""
        import dask  # installed with distributed

        # Dask's scratch space (dask-scratch-space/, lock files) in a private temp
        # dir of this run: removed after the cluster, reaped by a later run if killed.
        local = scratch_dir(self.job.temp_dirs[0], scratch)
        # The dashboard is started only where it is announced (it costs 0.4 s, start and exit).
        dashboard = not self.job.quiet and importlib.util.find_spec("bokeh") is not None
        # Workers forked from this process start in 0.15 s instead of 0.55 s, importing
        # nothing anew (half the cluster's CPU); no thread of shuf-big's runs yet.
        # The objects inherited are frozen out of the collector's sight: its passes would
        # otherwise touch, and so copy, every page of them in each worker.
        gc.freeze()
        try:
            with (
                without_huge_pages(),
                dask.config.set({"temporary-directory": local, "distributed.worker.multiprocessing-method": "fork"}),
            ):
                cluster = distributed.LocalCluster(
                    n_workers=self.job.plan.jobs,
                    threads_per_worker=1,
                    processes=True,
                    # No dashboard: its HTTP server still binds a port, a free one (8787 may be taken).
                    dashboard_address=":0" if dashboard else "127.0.0.1:0",
                    scheduler_kwargs=None if dashboard else {"dashboard": False},
                    silence_logs=logging.CRITICAL,
                    local_directory=local,
                )
        finally:
            gc.unfreeze()
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
        if dashboard:
            print(f"shuf-big: Dask dashboard at {cluster.dashboard_link}", file=sys.stderr)
        return cluster, client

    def _outputs(self) -> list[Output | str]:
        """Each output file: an :class:`Output` this process writes (a local path or
        standard output) or a URL a concat task writes."""
        first = str(self.job.outputs[0])  # check() refused file objects
        names = [first] if self.job.shards is None else shard_names(first, self.job.shards)
        if self.job.shards is not None and first == "-":
            raise ShufBigError("--shards needs -o PATTERN naming the shard files")
        return [name if is_url(name) else Output(name) for name in names]

    def _blocks(self) -> tuple[list[Block], list[bytes | None]]:
        """Every input as one block (cut later, see :func:`cut`), and with ``--header`` each
        input's first records: read here for plain inputs, None for a whole-input block
        (compressed, or a separator that overlaps itself), whose count task returns them."""
        blocks: list[Block] = []
        heads: list[bytes | None] = []
        whole_file = overlaps_itself(self.job.sep.token)
        storage = self.job.storage_options
        for n, url in enumerate(str(where) for where in self.job.inputs):
            what = f"'{url}'"
            origin = self.job.origins[n] if self.job.origins else ""
            size = (self.store or store_for(self.job)).size(url) or 0
            fmt = self.job.decompress or compression_of(url)
            if fmt is not None or whole_file:
                blocks.append(Block(url, what, 0, -1, size, fmt, self.job.header, storage, origin))
                heads.append(None)
                continue
            start = 0
            head = b""
            if self.job.header:
                with open_object(url, what, storage) as handle:
                    head, _, start = split_header(
                        functools.partial(read_fully, handle, what=what), self.job.sep.token, self.job.header
                    )
            blocks.append(Block(url, what, start, size, size, None, 0, storage, origin))
            heads.append(head)
        return blocks, heads

    def _stages(
        self,
        client: Any,
        local: bool,
        distributed: Any,
        inputs: list[Block],
        heads: list[bytes | None],
        outputs: list[Output | str],
        run_url: str,
        pending: list[Pending],
    ) -> None:
        """Count, map, reduce (and concatenate pieces where needed); the URL outputs and
        uploads to make visible once every output is complete go to ``pending``.  On a
        local cluster this process counts the inputs itself (no task round trips)."""
        tag = secrets.token_hex(4)
        job = self.job
        threads = [w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()]
        workers = len(threads)
        share = max(threads or [1])
        settings = Settings(
            job.sep.token,
            job.spec,
            max(job.plan.mem // share, MIN_MEM),
            run_url,
            threads=share,
            storage=job.storage_options,
        )
        read = Plan.for_budget(settings.mem).read_buffer
        span = map_span(sum(b.size for b in inputs), workers, read)
        numbered = [(n, piece) for n, block in enumerate(inputs) for piece in cut(block, span)]
        blocks = [piece for _, piece in numbered]
        with task_bar("dask", job.progress) as bar:

            def stage(name: str, fn: Callable[..., Any], calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
                bar.set_description(f"dask: {name}")
                bar.total += len(calls)
                futures = [client.submit(fn, *args, key=f"shuf-big-{name}-{tag}-{key}") for key, args in calls]
                return self._wait(distributed, futures, bar)

            counts = [(str(i), (b, job.sep.token, min(MAP_CHUNK, read))) for i, b in enumerate(blocks)]
            extents = self._count_here(counts, bar) if local else stage("count", count_block, counts)
            header = self._header(inputs, heads, numbered, extents)
            spills, rows, settings = self._map(stage, numbered, extents, settings, workers)
            names = [o if isinstance(o, str) else o.path for o in outputs]
            level = job.compress_level
            compress = [codec_for(fmt, level) if (fmt := compression_of(name)) else None for name in names]
            plan = Outputs(outputs, compress, header, local)
            parts = run_reduces(stage, spills, plan.reduces(rows, settings, pending), settings)
            plan.assemble(stage, settings, parts, pending)

    def _count_here(self, counts: list[tuple[str, tuple[Any, ...]]], bar: Any) -> list[Extent]:
        """The count stage run by this process's threads (one per ``-j``)."""
        bar.set_description("dask: count")
        bar.total += len(counts)
        with ThreadPoolExecutor(self.job.plan.jobs, thread_name_prefix="shuf-big-count") as pool:
            futures = [pool.submit(count_block, *args) for _, args in counts]
            try:
                extents = []
                for future in futures:
                    extents.append(future.result())
                    bar.update(1)
                return extents
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _map(
        self, stage: Submit, numbered: list[tuple[int, Block]], extents: list[Extent], settings: Settings, workers: int
    ) -> tuple[list[str], list[np.ndarray], Settings]:
        """The map stage: every block's records scattered to a spill file; returns the
        spill files, each non-empty bucket's index rows in key order, and the settings
        with the fan-out and spill layout the map tasks used."""
        firsts = np.cumsum([0] + [s.records for s in extents]).tolist()
        total = firsts[-1]
        before: dict[int, int] = {}  # per input: records before its first line (for messages)
        for i, (n, _) in enumerate(numbered):
            before.setdefault(n, firsts[i] - self.job.header)
        nbytes = sum((s.end - s.start) if s.start >= 0 else s.block.size for s in extents)
        bits = fanout_bits_for(nbytes, total, settings.mem, workers)
        packed = spill_packing(self.job.plan.compress_temp, settings.run, nbytes, total)
        runs = gathers_runs(settings.run, nbytes, 1 << bits)
        settings = replace(settings, fanout_bits=bits, packed=packed, runs=runs)
        self.packed = packed
        maps = [
            (str(i), (extent, firsts[i], i, settings, before[numbered[i][0]]))
            for i, extent in enumerate(extents)
            if extent.records
        ]
        spilled: list[tuple[str, np.ndarray]] = stage("scatter", map_block, maps)
        _, per_bucket = bucket_rows([rows for _, rows in spilled])
        if sum(int(rows[:, RECORDS].sum()) for rows in per_bucket) != total:
            raise ShufBigError("the inputs changed while being read")
        return [url for url, _ in spilled], per_bucket, settings

    def _header(
        self, inputs: list[Block], heads: list[bytes | None], numbered: list[tuple[int, Block]], extents: list[Extent]
    ) -> bytes:
        """The header every input must agree on, as the local engine's: from the first
        input that has ``--header`` records; an input that starts otherwise is an error."""
        if not self.job.header:
            return b""
        counted = {n: extent.head for (n, _), extent in zip(numbered, extents, strict=True) if heads[n] is None}
        headers = Headers(self.job.header, self.job.sep.token)
        for n, block in enumerate(inputs):
            head = heads[n]
            headers.offer(counted.get(n, b"") if head is None else head, block.what)
        return headers.header

    @staticmethod
    def _wait(distributed: Any, futures: list[Any], bar: Any) -> list[Any]:
        """The futures' results in submission order, advancing the bar as each completes."""
        try:
            for future in distributed.as_completed(futures):
                if future.status == "error":
                    future.result()  # raises the task's exception here
                bar.update(1)
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
