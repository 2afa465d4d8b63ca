"""The plan: every buffer size and the bucket count, derived from the memory budget.

Pure arithmetic, no system calls: the open-file limit is read once by the engine that
opens bucket files (:func:`shuf_big.system.tempfiles.fd_fanout_bits`) and passed in.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from shuf_big import core
from shuf_big.budget.sizes import format_size, size_option
from shuf_big.errors import ShufBigError

MIN_MEM = 16 * 1024
# Compressed blocks queued for the workers: up to this share of the budget and this many
# bytes, so they keep compressing while the engine loads its next group of records.
QUEUE_SHARE = 32
MAX_QUEUE = 8 << 20
# Bytes of numpy arrays per record while a group is ordered in memory (offsets, keys,
# sub-bucket order and temporaries); measured with tracemalloc, see tests/test_memory.py.
ORDER_BYTES_PER_RECORD = 48
# The same when short records are first partitioned by sub-bucket (which also takes a
# second copy of the bytes): offsets, keys, ids, moved keys and lengths; and per record
# of a block being moved (core.BLOCK_RECORDS at most), its temporaries.
PARTITION_BYTES_PER_RECORD = 32
BLOCK_BYTES_PER_RECORD = 64
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
# Object storage: the largest fetched range and upload part, S3's smallest part (all but the
# last), and the most parts uploaded at once.
FETCH_MAX = 16 << 20
MIN_PART = 5 << 20
MAX_PARALLEL_PARTS = 4
# A part in flight is held twice: its body, and the copy the event loop's socket transport
# keeps of what the socket has not yet taken (measured: 8.6 MiB traced for an 8 MiB part).
PART_COPIES = 2
# What loading the storage libraries costs once (botocore's service models, aiohttp):
# 33 MiB of RSS for shuf_big.api alone, 74 MiB with s3fs listing a bucket.
STORAGE_LIBRARIES = 40 << 20
# Compressed temp files: a zstd context per thread that compresses or decodes them, sized by
# zstd from the frames it sees (a bucket's share of a batch): at level 1, 84 KiB for 4 KiB
# frames, 0.5 MiB for 64 KiB, 1.3 MiB at most; a decoder holds its window and 128 KiB of input.
TEMP_CODEC_MEMORY = 3 << 19
# The widest fan-out of one level: bucket ids are uint16.
MAX_FANOUT_BITS = 16


class BlockCodec(Protocol):
    """What the plan needs of an output's codec (:class:`shuf_big.files.compression.Codec`):
    its block size and the memory of its blocks in flight."""

    def block_for(self, mem: int) -> int: ...

    def memory(self, block: int, jobs: int, depth: int) -> int: ...


def depth_for(block: int, jobs: int, mem: int) -> int:
    """Blocks in flight: one per worker and one more, or more while they take at most
    ``1/QUEUE_SHARE`` of the budget (and :data:`MAX_QUEUE`); one without workers."""
    if jobs < 2:
        return 1
    return max(jobs + 1, min(mem // QUEUE_SHARE, MAX_QUEUE) // max(block, 1))


def transfers_for(mem: int, remote_in: bool, remote_out: bool) -> tuple[int, int, int, int]:
    """(fetch block, fetches in flight, upload part, parts in flight) for object storage:
    blocks of 1/64 of the budget within [1 MiB, 16 MiB], two fetched ahead; parts of at least
    S3's 5 MiB, up to four in flight while their copies take at most an eighth of the budget
    (more gains nothing on two cores, where the upload's own CPU work is the limit)."""
    fetch = min(max(mem // 64, 1 << 20), FETCH_MAX) if remote_in else 0
    part = min(max(mem // 64, MIN_PART), FETCH_MAX) if remote_out else 0
    parallel = min(max(mem // (8 * PART_COPIES * part), 1), MAX_PARALLEL_PARTS) if remote_out else 0
    return fetch, 2 if remote_in else 0, part, parallel


def transfer_memory(fetch: int, fetch_depth: int, part: int, parallel: int) -> int:
    """What object storage holds at most: the blocks fetched ahead and the one being read,
    the parts in flight (:data:`PART_COPIES` each) and the one being filled, the libraries."""
    if not fetch and not part:
        return 0
    return (fetch_depth + 1) * fetch + (PART_COPIES * parallel + 1) * part + STORAGE_LIBRARIES


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
    fd_fanout_bits: int = MAX_FANOUT_BITS
    jobs: int = 1
    fanout_bits: int | None = None  # fixed fan-out, for tests of the split path
    compress_block: int = 0  # bytes per independently compressed block of compressed outputs
    compress_depth: int = 1  # such blocks in flight on the workers
    fetch_block: int = 0  # bytes per range fetched ahead from a remote input
    fetch_depth: int = 0  # such ranges in flight (and one being read)
    upload_part: int = 0  # bytes per part of a remote output's upload
    upload_parallel: int = 0  # such parts in flight (and one being filled)
    compress_temp: str = "never"  # --compress-temp: auto, always or never

    @classmethod
    def for_budget(
        cls,
        mem: int,
        jobs: int = 1,
        fd_fanout_bits: int = MAX_FANOUT_BITS,
        fanout_bits: int | None = None,
        held_pieces: int = 0,
        codecs: Sequence[BlockCodec] = (),
        remote: tuple[bool, bool] = (False, False),
        compress_temp: str = "never",
    ) -> Plan:
        """``held_pieces``: output pieces a consumer holds outside the engine
        (:func:`shuf_big.iter_shuffled`'s queue), charged to the ordering budget; ``remote``:
        whether inputs, outputs are in object storage (their transfers are charged too);
        ``compress_temp``: unless ``never``, the compressed batches and codecs of compressed
        temp files are charged."""
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
        packing = compress_temp != "never"
        buffers += inflight if packing else 0  # each batch in flight compressed, until written
        read_buffer = min(max(mem // (4 * buffers), 4096), 64 << 20)
        max_records = min(max(mem // (4 * SCATTER_BYTES_PER_RECORD * inflight), 16), 1 << 21)
        # Ordering scratch: per worker a gather index (16 B per piece byte) and sort arrays
        # for one sub-bucket, and one built sub-bucket (about 2-4 pieces) per worker in flight.
        scratch = jobs * (16 * piece + core.SUB_BUCKET_RECORDS * 64) + ((jobs + 1) * 4 + held_pieces) * piece
        # Compressed outputs (``codecs``: one per output file being written at a time): their
        # blocks in flight on the workers, compressed copies and encoders, while records are written.
        block = max((codec.block_for(mem) for codec in codecs), default=0)
        depth = depth_for(block, jobs, mem)
        scratch += sum(codec.memory(block, jobs, depth) for codec in codecs)
        fetch, fetch_depth, part, parallel = transfers_for(mem, *remote)
        scratch += transfer_memory(fetch, fetch_depth, part, parallel)
        codec = min(TEMP_CODEC_MEMORY, (64 << 10) + 4 * read_buffer)  # frames are at most a batch
        scratch += (jobs + 1) * codec if packing else 0  # compressors in pass 1, decoders in pass 2
        order_budget = max(mem - scratch, mem // 2)
        return cls(
            mem, read_buffer, max_records, piece, order_budget, fd_fanout_bits, jobs, fanout_bits, block, depth,
            fetch, fetch_depth, part, parallel, compress_temp,
        )  # fmt: skip

    def with_fd_limit(self, fd_fanout_bits: int) -> Plan:
        """The same plan, its fan-out capped by the open-file limit the engine found."""
        return replace(self, fd_fanout_bits=fd_fanout_bits)

    def max_fanout_bits(self) -> int:
        """The widest fan-out worth one pass: open files allow it, and every bucket still
        gets a few dozen records per batch (else per-write costs dominate and a second
        level of buckets is cheaper)."""
        per_batch = max(self.max_records // MIN_RECORDS_PER_WRITE, 2).bit_length() - 1
        return max(min(self.fd_fanout_bits, max(per_batch, 2)), 1)

    def order_need(self, nbytes: int, nrecords: int, partitioned: bool | None = None) -> int:
        """Memory needed to order ``nrecords`` records of ``nbytes`` bytes in memory:
        partitioned by sub-bucket first (the default for short records, see
        :func:`shuf_big.core.worth_partitioning`) or not."""
        if partitioned is None:
            partitioned = core.worth_partitioning(nbytes, nrecords)
        if partitioned:
            block = BLOCK_BYTES_PER_RECORD * min(nrecords, core.BLOCK_RECORDS)
            return 2 * nbytes + PARTITION_BYTES_PER_RECORD * nrecords + block
        return nbytes + ORDER_BYTES_PER_RECORD * nrecords

    def record_limit(self) -> int:
        """The longest record a run takes: pass 1 streams a record longer than the read
        buffer to its bucket file (and ``-n`` loads it) only up to the whole budget."""
        return self.mem

    def takes_record(self, size: int, kept: bool = False) -> bool:
        """Whether a record of ``size`` bytes fits this plan; ``kept``: also when it must be
        ordered in memory with its arrays (as ``-n`` keeps a selected record)."""
        if kept and self.order_need(size, 1) > self.order_budget:
            return False
        return size <= self.record_limit()

    def mem_for_record(self, size: int, kept: bool = False) -> int:
        """The smallest budget (with as many jobs) whose plan takes a record of ``size``
        bytes: what an error suggests for ``--mem``.  Budgets take longer records as they
        grow, so a binary search finds it."""
        high = max(self.mem, MIN_MEM)
        while not Plan.for_budget(high, self.jobs).takes_record(size, kept):
            high *= 2
        low = MIN_MEM - 1  # does not take it (or is below the minimum)
        while high - low > 1:
            middle = (low + high) // 2
            if Plan.for_budget(middle, self.jobs).takes_record(size, kept):
                high = middle
            else:
                low = middle
        return high

    def too_large(self, size: int, which: str, kept: bool = False, share: int = 1) -> str:
        """What to say about a record of ``size`` bytes over this plan: ``which`` one it is
        (``line 12 of 'x.gz'``), and the smallest ``--mem`` that takes it (``share``: how
        many tasks split one ``--mem``, on the Dask engine)."""
        need = size_option(self.mem_for_record(size, kept) * share)
        return (
            f"{which} is {size} bytes ({format_size(size)}), larger than the memory budget "
            f"({format_size(self.mem)}): rerun with --mem {need} or more"
        )

    def head_too_large(self, count: int) -> ShufBigError:
        """The error when ``-n COUNT``'s kept records outgrow this plan."""
        return ShufBigError(
            f"-n {count} keeps more lines than fit in --mem {format_size(self.mem)}: "
            "raise --mem, or pipe the whole shuffle to head"
        )

    def partitioned(self, nbytes: int, nrecords: int) -> bool:
        """Whether to partition a group by sub-bucket before ordering it: its records are
        short, and the second copy of their bytes fits the budget."""
        if not core.worth_partitioning(nbytes, nrecords):
            return False
        return self.order_need(nbytes, nrecords, partitioned=True) <= self.order_budget

    def bucket_bits(self, need: float, at_least: float = 2) -> int:
        """Bucket-count bits so that each bucket of data needing ``need`` bytes to order
        fills about :data:`BUCKET_FILL` of the ordering budget (at least ``at_least``
        buckets).  The one formula of the local and Dask engines, for pass 1 and splits."""
        return math.ceil(math.log2(max(need / (BUCKET_FILL * self.order_budget), at_least)))


def default_jobs() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
