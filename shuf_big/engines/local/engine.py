"""The local engine: inputs and outputs on this machine's files, temp files on its disks.

It opens the job's inputs as one stream (or, with ``--aligned``, each on its own), opens
its outputs (sharded, compressed, atomic), and runs :class:`~shuf_big.engines.local.shuffler.Shuffler`
between them.  Every output is committed only after all of them are complete, so a
failure leaves every existing destination untouched.
"""

from __future__ import annotations

from shuf_big.budget.malloc import tune_for_budget
from shuf_big.budget.plan import Plan
from shuf_big.engines.local.shuffler import Shuffler
from shuf_big.engines.preflight import check_job, store_for
from shuf_big.errors import ShufBigError
from shuf_big.files.compression import Compression
from shuf_big.files.inputs import Inputs, check_stdin_once, count_in
from shuf_big.files.shards import ShardedOutput, open_output
from shuf_big.job import Job, Result, Stats
from shuf_big.storage.store import Store
from shuf_big.system.progress import Progress
from shuf_big.system.tempfiles import TempDirs, fd_fanout_bits


class LocalEngine:
    """Files in, files out, on this machine, within ``job.plan.mem`` bytes."""

    name = "local"
    # -e, -i and -r are GNU shuf's modes (the gnu engine); a cluster is the Dask engine's.
    supports = frozenset({"head_count", "record_separator", "header", "shards", "aligned", "paragraphs", "decompress"})
    refusal = "the local engine cannot run {option}"
    store: Store | None = None  # set by check, for run

    def check(self, job: Job) -> None:
        if job.aligned and len(job.inputs) < 2:
            raise ShufBigError("--aligned needs at least two inputs")
        if job.aligned and len(job.outputs) != len(job.inputs):
            raise ShufBigError(
                f"--aligned needs one -o per input: {len(job.inputs)} inputs, {len(job.outputs)} outputs"
            )
        check_stdin_once(job.inputs)  # also with -n 0, which opens no input
        self.store = store_for(job)
        check_job(job, self.store)

    def run(self, job: Job) -> Result:
        reserved = len(job.outputs) * (job.shards or 1)  # output files open with the buckets
        plan = job.plan.with_fd_limit(fd_fanout_bits(reserved))
        tune_for_budget(plan.mem)
        sep = job.sep
        # (inputs, their --files-from lines) read as one stream: each on its own with --aligned
        if job.aligned:
            groups = [([path], list(job.origins[n : n + 1])) for n, path in enumerate(job.inputs)]
        else:
            groups = [(list(job.inputs), list(job.origins))]
        compression = Compression(job.compress_level, plan.compress_block, plan.jobs, plan.compress_depth)
        store = self.store or store_for(job)
        if job.head_count == 0:  # as GNU shuf: the input is not even opened
            inputs: list[Inputs] = []
        else:
            inputs = [
                Inputs(paths, sep.token, job.header, job.decompress, sep.paragraphs, origins, store)
                for paths, origins in groups
            ]
        sizes = [inp.disk_size for inp in inputs]
        outs = [
            open_output(path, job.shards, sep.token, sep.trim, compression, store, _expected(inp))
            for path, inp in zip(job.outputs, inputs or [None] * len(job.outputs), strict=True)  # type: ignore[list-item]
        ]
        passes = 1 if job.head_count is not None else 2  # -n streams once; a shuffle reads, then writes
        total = None if None in sizes else passes * sum(size or 0 for size in sizes)
        progress = Progress(job.progress and bool(inputs), total)
        stats = Stats()
        shuffler = Shuffler(plan, job.spec, TempDirs(list(job.temp_dirs), reserved), sep.token, progress, stats)
        try:
            for inp in inputs:
                inp.prime()
            for out in outs:
                out.open()
            progress.watch(store.moved)
            if job.aligned and inputs:
                _check_aligned(inputs, plan)
            for number, (inp, out) in enumerate(zip(inputs, outs, strict=False)):
                if job.aligned:
                    progress.label = f"{inp.what} ({number + 1}/{len(inputs)}): "
                out.set_header(inp.header)
                shuffler.run(inp, inp.size, inp.what, out, job.head_count)
                inp.close()
            for out in outs:
                if not inputs:
                    out.expect(0)
                out.commit()
            if job.aligned and inputs and stats.records_in is not None:
                stats.records_in //= len(inputs)  # records: rows across the aligned inputs
            stats.downloaded, stats.uploaded = store.fetched(), store.sent()
            sharded = [out.shard_records() for out in outs if isinstance(out, ShardedOutput)]
            written = sum(out.written for out in outs) // len(outs)
            return Result.of(job, stats, outs[0].records, written, sharded[0] if sharded else None)
        finally:
            progress.close()
            for out in outs:
                out.discard()
            shuffler.temp.remove()
            for inp in inputs:
                inp.close()
            store.close()


def _expected(inp: Inputs | None) -> int | None:
    """About the bytes the output of ``inp`` gets (for an upload's part size): its bytes on
    disk, ten times that when compressed (shuffled data compresses less well than sorted)."""
    if inp is None or inp.disk_size is None:
        return None
    return inp.size if inp.size is not None else 10 * inp.disk_size


def _check_aligned(inputs: list[Inputs], plan: Plan) -> None:
    """Fail, before anything is written, if aligned inputs differ in record count."""
    counts = [count_in(inp, plan.read_buffer) for inp in inputs]
    if len(set(counts)) > 1:
        listing = ", ".join(f"{inp.what} has {n}" for inp, n in zip(inputs, counts, strict=True))
        raise ShufBigError(f"--aligned inputs differ in record count: {listing}")
