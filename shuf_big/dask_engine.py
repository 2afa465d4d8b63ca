"""The Dask engine: the local engine's shuffle as tasks on a Dask cluster, storage via fsspec.

Four stages of independent tasks, each calling :mod:`shuf_big.core`:

1. **count**: each input is cut into blocks at record boundaries (a plain file every
   ``block`` bytes; a compressed file, or one whose separator can overlap itself, is one
   block).  A task finds its block's exact byte bounds and counts its records.
2. **map**: knowing how many records come before it, a block draws its records' keys
   from their global indices, scatters them by key bits and writes *one* spill file: per
   batch, the records bucket by bucket, then their index gaps.  The task returns the
   file's index (bucket, offsets, counts).
3. **reduce**: one task per bucket reads its ranges of every spill file, orders the
   records by key and writes one piece per output file the bucket's records fall in.
4. **concat**: a task per output URL writes the header and its pieces in bucket order
   (plain paths and standard output are written by the calling process).

Keys depend only on the seed and a record's global index, and buckets are ranges of key
bits, so the output is the local engine's byte for byte.  Compressed outputs hold the
same bytes after decompression: one compressed stream per piece, concatenated (valid
gzip, bzip2, xz and zstd).  Every file a task writes appears by an atomic rename when
complete, so a task that Dask reruns after losing a worker just writes it again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from . import core
from .engine import BUCKET_FILL, MIN_MEM, ORDER_BYTES_PER_RECORD, Plan, parts_within
from .errors import ShufBigError
from .inputs import Decompressed, compression_of, split_header
from .io import Counter, LongRecord, Output, PrefixedReader, RecordReader, describe, make_encoder, read_fully
from .outputs import ShardedOutput, shard_names

# Index columns of a spill file's ranges, one row per (batch, bucket) with records.
BUCKET, DATA_AT, DATA_LEN, GAPS_AT, GAPS_LEN, RECORDS, BASE = range(7)
# Index rows gathered by the driver gain this column: which spill file a row is in.
SPILL = 7
_COPY_CHUNK = 1 << 22


def _imports() -> tuple[Any, Any]:
    """``distributed`` and ``fsspec``, or a one-line error saying how to get them."""
    try:
        import distributed
        import fsspec
    except ImportError:
        raise ShufBigError("--engine dask needs Dask and fsspec: pip install 'shuf-big[dask]'") from None
    return distributed, fsspec


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def is_url(path: str) -> bool:
    """Whether ``path`` names a location by URL (``s3://...``) rather than a local path."""
    return "://" in path


def expand_globs(urls: list[str]) -> list[str]:
    """URLs with ``*``, ``?`` or ``[`` expanded by their filesystem (sorted), as a shell
    would expand local paths; a pattern that matches nothing is an error."""
    out: list[str] = []
    for url in urls:
        if not (is_url(url) and any(c in url for c in "*?[")):
            out.append(url)
            continue
        fs, path = _fs(url)
        found = sorted(fs.glob(path))
        if not found:
            raise ShufBigError(f"cannot open '{url}': No such file or directory")
        out.extend(fs.unstrip_protocol(p) for p in found)
    return out


# -- files written by tasks --------------------------------------------------------------


class AtomicFile:
    """A file at ``url`` written under a temporary name and renamed into place when done.

    A rerun of the same task (Dask retries tasks of a lost worker) writes its own
    temporary name, so two attempts never mix and readers only ever see whole files.
    """

    def __init__(self, url: str, compress: str | None = None) -> None:
        self.url = url
        self.fs, self.path = _fs(url)
        self.temp = f"{self.path}.{secrets.token_hex(6)}.part"
        self.encoder = make_encoder(compress) if compress else None
        self.handle: BinaryIO | None = None
        self.preamble = b""  # written first (what ShardedOutput calls the header)
        self.size = 0

    def open(self) -> None:
        try:
            self.handle = self.fs.open(self.temp, "wb")
        except OSError as err:
            raise ShufBigError(f"cannot open '{self.url}' for writing: {describe(err)}") from None
        if self.preamble:
            self.write([memoryview(self.preamble)])

    def write(self, parts: list[memoryview]) -> int:
        """Write records (compressed if asked); returns their byte count before compression."""
        if self.handle is None:
            self.open()
        assert self.handle is not None
        size = 0
        try:
            for part in parts:
                size += len(part)
                self.handle.write(self.encoder.compress(part) if self.encoder is not None else part)
        except OSError as err:
            raise ShufBigError(f"write error on '{self.url}': {describe(err)}") from None
        self.size += size
        return size

    def finish(self) -> None:
        """Close the temporary file (with the compressor's tail)."""
        if self.handle is None:
            self.open()
        assert self.handle is not None
        try:
            if self.encoder is not None:
                self.handle.write(self.encoder.flush())
                self.encoder = None
            self.handle.close()
        except OSError as err:
            raise ShufBigError(f"write error on '{self.url}': {describe(err)}") from None

    def commit(self) -> None:
        self.finish()
        self.fs.mv(self.temp, self.path)

    def discard(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):
                self.handle.close()
        with contextlib.suppress(Exception):
            self.fs.rm(self.temp)


def _open_input(url: str, what: str) -> BinaryIO:
    fs, path = _fs(url)
    try:
        if getattr(fs, "protocol", None) in ("memory", ("memory",)):
            # memory:// hands every reader the one stored file object, whose position
            # concurrent tasks would share: read from a private copy instead.
            return io.BytesIO(fs.cat_file(path))
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise ShufBigError(f"cannot open {what}: No such file or directory") from None
    except OSError as err:
        raise ShufBigError(f"cannot open {what}: {describe(err)}") from None


class Limited:
    """A raw reader of the next ``remaining`` bytes of ``handle``; ending short is an error."""

    def __init__(self, handle: BinaryIO, remaining: int, what: str) -> None:
        self.handle = handle
        self.remaining = remaining
        self.what = what

    def readinto(self, view: memoryview) -> int:
        if self.remaining <= 0:
            return 0
        got = self.handle.readinto(view[: self.remaining]) or 0  # type: ignore[attr-defined]
        if not got:
            raise ShufBigError(f"{self.what} shrank while being read")
        self.remaining -= got
        return got


# -- stage 1: blocks and their record counts -------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A nominal byte range ``[lo, hi)`` of one input (``hi = -1``: the whole input)."""

    url: str
    what: str  # the input's name in messages
    lo: int
    hi: int
    size: int  # the input's size in bytes (compressed size for compressed inputs)
    compression: str | None
    skip: int  # header records to drop at the start of a whole-input block


@dataclass(frozen=True)
class Span:
    """A block's exact extent: records ending in ``(start, end]`` (whole input: -1, -1)."""

    block: Block
    start: int
    end: int
    records: int


def overlaps_itself(sep: bytes) -> bool:
    """Whether two occurrences of ``sep`` can overlap (a proper prefix is also a suffix).

    Only then can a search for separators started mid-file disagree with one started at
    the beginning, so only then must such a file be read as one block.
    """
    return any(sep[:k] == sep[-k:] for k in range(1, len(sep)))


def _whole_input(block: Block) -> tuple[Any, BinaryIO]:
    """A whole-input block's reader (decompressed, header records dropped) and its handle."""
    handle = _open_input(block.url, block.what)
    raw: Any = Decompressed(handle, block.compression, block.what) if block.compression else handle
    return raw, handle


def _skip_header(raw: Any, sep: bytes, block: Block) -> Any:
    if not block.skip:
        return raw
    _, rest, _ = split_header(lambda view: read_fully(raw, view, block.what), sep, block.skip)
    return PrefixedReader(np.frombuffer(rest, dtype=np.uint8), raw)


def _first_end(handle: BinaryIO, at: int, size: int, sep: bytes, buffer: np.ndarray) -> int:
    """The smallest record end at or after byte ``at`` (``size`` if none).

    The search starts ``len(sep)`` bytes early, which finds every separator that ends at
    ``at`` or later; for a separator that cannot overlap itself every occurrence found
    is one a search from the start would find.
    """
    if at >= size:
        return size
    pos = max(at - len(sep), 0)
    handle.seek(pos)
    framer = core.StreamFramer(sep)
    while got := handle.readinto(memoryview(buffer)) or 0:  # type: ignore[attr-defined]
        ends = framer.feed(buffer[:got]) + pos
        k = int(np.searchsorted(ends, at))
        if k < len(ends):
            return int(ends[k])
        pos += got
    return size


def cut(block: Block, chunk: int) -> list[Block]:
    """A plain input's block cut every ``chunk`` bytes (whole-input blocks stay whole)."""
    if block.hi < 0:
        return [block]
    return [
        replace(block, lo=lo, hi=min(lo + chunk, block.hi))
        for lo in range(block.lo, max(block.hi, block.lo + 1), chunk)
    ]


def count_block(block: Block, sep: bytes, chunk: int) -> Span:
    """Stage 1: the block's exact bounds and record count (reads it once, ``chunk`` at a time)."""
    buffer = np.empty(chunk, dtype=np.uint8)
    framer = core.StreamFramer(sep)
    records = 0
    if block.hi < 0:
        raw, handle = _whole_input(block)
        with handle:
            raw = _skip_header(raw, sep, block)
            while got := read_fully(raw, memoryview(buffer), block.what):
                records += len(framer.feed(buffer[:got]))
        return Span(block, -1, -1, records + bool(framer.terminator()))
    with _open_input(block.url, block.what) as handle:
        start = block.lo if block.lo == 0 else _first_end(handle, block.lo, block.size, sep, buffer)
        stop = block.hi if block.hi < block.size else block.size + 1  # the last block reads to the end
        if start >= stop:
            return Span(block, start, start, 0)
        handle.seek(start)
        pos = start
        while got := handle.readinto(memoryview(buffer)) or 0:  # type: ignore[attr-defined]
            ends = framer.feed(buffer[:got]) + pos
            k = int(np.searchsorted(ends, stop))
            if k < len(ends):
                return Span(block, start, int(ends[k]), records + k + 1)
            records += len(ends)
            pos += got
        if pos < block.size:
            raise ShufBigError(f"{block.what} shrank while being read")
        return Span(block, start, block.size, records + bool(framer.terminator()))


# -- stage 2: scatter a block into one spill file ------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What every task needs to know about the run."""

    sep: bytes
    spec: core.KeySpec
    mem: int  # each task's budget
    run: str  # URL of this run's temp directory
    fanout_bits: int = 0


def map_block(span: Span, first_index: int, number: int, settings: Settings) -> tuple[str, np.ndarray]:
    """Stage 2: scatter a block's records to buckets in one spill file; returns (URL, index rows)."""
    plan = Plan.for_budget(settings.mem)
    block = span.block
    counter = Counter()
    counter.next = first_index
    url = f"{settings.run}/spill-{number:06d}"
    spill = AtomicFile(url)
    rows: list[np.ndarray] = []
    out = np.empty(plan.read_buffer, dtype=np.uint8)
    last_index = np.empty(1 << settings.fanout_bits, dtype=np.int64)
    if block.hi < 0:
        raw, handle = _whole_input(block)
        raw = _skip_header(raw, settings.sep, block)
    else:
        handle = _open_input(block.url, block.what)
        handle.seek(span.start)
        raw = Limited(handle, span.end - span.start, block.what)
    try:
        with handle:
            reader = RecordReader(raw, settings.sep, plan.read_buffer, plan.max_records, counter.take, block.what)
            for item in reader:
                if isinstance(item, LongRecord):
                    data = np.frombuffer(b"".join(bytes(p) for p in parts_within(item, plan.mem)), dtype=np.uint8)
                    ends = np.array([len(data)], dtype=np.int64)
                    indices = np.array([item.index], dtype=np.int64)
                    target = np.empty(len(data), dtype=np.uint8)
                else:
                    data, ends, indices, target = item.data, item.ends, item.indices, out
                s = core.scatter(data, ends, indices, settings.spec, 0, settings.fanout_bits, target, plan.piece)
                rows.append(_append_batch(spill, s, last_index))
        if counter.next - first_index != span.records:
            raise ShufBigError(f"{block.what} changed while being read")
        spill.commit()
    except BaseException:
        spill.discard()
        raise
    return url, np.concatenate(rows) if rows else np.empty((0, 7), dtype=np.int64)


def _append_batch(spill: AtomicFile, s: core.Scattered, last_index: np.ndarray) -> np.ndarray:
    """Write one scattered batch (records, then gaps) and return its index rows.

    Gaps restart at each batch (from the batch's first index), so every row decodes on
    its own.
    """
    base = int(s.indices.min()) - 1 if len(s.indices) else -1
    last_index[:] = base
    gaps, gap_bounds = core.encode_bucket_gaps(s, last_index)
    data_at = spill.size
    nbytes = int(s.data_bounds[-1])
    spill.write([memoryview(s.data[:nbytes]), memoryview(gaps).cast("B")])
    gaps_at = data_at + nbytes
    counts = s.counts
    filled = np.flatnonzero(counts)
    rows = np.empty((len(filled), 7), dtype=np.int64)
    rows[:, BUCKET] = filled
    rows[:, DATA_AT] = data_at + s.data_bounds[filled]
    rows[:, DATA_LEN] = s.data_bounds[filled + 1] - s.data_bounds[filled]
    rows[:, GAPS_AT] = gaps_at + 2 * gap_bounds[filled]
    rows[:, GAPS_LEN] = 2 * (gap_bounds[filled + 1] - gap_bounds[filled])
    rows[:, RECORDS] = counts[filled]
    rows[:, BASE] = base
    return rows


# -- stage 3: order a bucket ----------------------------------------------------------------


def _read_range(handle: BinaryIO, at: int, view: memoryview, what: str) -> None:
    handle.seek(at)
    if read_fully(handle, view, what) != len(view):
        raise ShufBigError(f"temporary file {what} is truncated")


def _load_rows(rows: np.ndarray, spills: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each index row's records and their global indices, one row at a time."""
    handles: dict[int, BinaryIO] = {}
    try:
        for row in rows:
            spill = int(row[SPILL])
            if spill not in handles:
                handles[spill] = _open_input(spills[spill], f"'{spills[spill]}'")
            handle = handles[spill]
            data = np.empty(int(row[DATA_LEN]), dtype=np.uint8)
            gaps = np.empty(int(row[GAPS_LEN]) // 2, dtype=np.uint16)
            _read_range(handle, int(row[DATA_AT]), memoryview(data), f"'{spills[spill]}'")
            _read_range(handle, int(row[GAPS_AT]), memoryview(gaps).cast("B"), f"'{spills[spill]}'")
            decoder = core.GapDecoder()
            decoder.last = int(row[BASE])
            yield data, decoder.feed(gaps)
    finally:
        for handle in handles.values():
            handle.close()


def _group(
    rows: np.ndarray, spills: list[str], settings: Settings, plan: Plan, select: tuple[int, int] | None
) -> core.GroupOrder:
    """The records of ``rows`` (only key sub-range ``select = (bits, j)`` if given), ordered."""
    datas, lengths, keys = [], [], []
    window = max(plan.piece, 1 << 16)
    for data, indices in _load_rows(rows, spills):
        bounds = np.empty(len(indices) + 1, dtype=np.int64)
        if core.frame_into(bounds, data, settings.sep, window) != len(indices):
            raise ShufBigError("temporary files are corrupt (record count mismatch)")
        k = core.draw_keys(settings.spec, indices)
        if select is not None:
            bits, j = select
            keep = np.flatnonzero(core.bucket_ids(k, settings.fanout_bits, bits) == j)
            starts, lens = bounds[keep], bounds[keep + 1] - bounds[keep]
            picked = np.empty(int(lens.sum()), dtype=np.uint8)
            core.gather_into(picked, data, starts, lens, plan.piece)
            data, k, lens = picked, k[keep], lens
        else:
            lens = np.diff(bounds)
        datas.append(data)
        lengths.append(lens)
        keys.append(k)
    lens = np.concatenate(lengths) if lengths else np.empty(0, dtype=np.int64)
    bounds = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    data = np.concatenate(datas) if datas else np.empty(0, dtype=np.uint8)
    all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
    return core.GroupOrder(data, bounds, all_keys, plan.piece)


def reduce_bucket(
    rows: np.ndarray, spills: list[str], pieces: list[str], limits: list[int], compress: str | None, settings: Settings
) -> list[str]:
    """Stage 3: order one bucket's records by key into ``pieces`` (piece ``p`` ends after
    record ``limits[p]`` of the bucket); returns the piece URLs.

    A bucket larger than the task's budget (rare: buckets are planned at half of it) is
    read once per sub-range of its next key bits, keeping one sub-range at a time.
    """
    plan = Plan.for_budget(settings.mem)
    need = plan.order_need(int(rows[:, DATA_LEN].sum()), int(rows[:, RECORDS].sum()))
    bits = 0 if need <= plan.order_budget else math.ceil(math.log2(need / (BUCKET_FILL * plan.order_budget)))
    bits = min(bits, 16, 64 - settings.fanout_bits)
    sink = ShardedOutput([AtomicFile(url, compress) for url in pieces], settings.sep, limits)
    try:
        for j in range(1 << bits):
            group = _group(rows, spills, settings, plan, (bits, j) if bits else None)
            for b in range(group.count):
                sink.write(group.parts(b))
            del group
        sink.commit()
    except BaseException:
        sink.discard()
        raise
    return pieces


# -- stage 4: concatenate pieces ----------------------------------------------------------


def _copy_pieces(pieces: Iterable[str], write: Callable[[list[memoryview]], object]) -> None:
    buffer = np.empty(_COPY_CHUNK, dtype=np.uint8)
    for url in pieces:
        with _open_input(url, f"'{url}'") as handle:
            while got := read_fully(handle, memoryview(buffer), f"'{url}'"):
                write([memoryview(buffer)[:got]])


def _header_bytes(header: bytes, compress: str | None, empty: bool) -> bytes:
    """The header as written on top of an output (its own compressed stream if compressed)."""
    if compress is None:
        return header
    if not header and not empty:
        return b""
    encoder = make_encoder(compress)
    return encoder.compress(memoryview(header)) + encoder.flush()


def concat_output(url: str, header: bytes, pieces: list[str], compress: str | None) -> str:
    """Stage 4: write ``header`` and ``pieces`` to a temporary file beside ``url``; returns
    its path (renamed into place by the driver once every output is complete)."""
    out = AtomicFile(url)
    try:
        out.write([memoryview(_header_bytes(header, compress, not pieces))])
        _copy_pieces(pieces, out.write)
        out.finish()
    except BaseException:
        out.discard()
        raise
    return out.temp


# -- planning (pure) ------------------------------------------------------------------------


def fanout_bits_for(nbytes: int, nrecords: int, mem: int, workers: int) -> int:
    """Bucket-count bits: buckets planned at half a task's ordering budget (as the local
    engine), and at least two per worker so that every worker has reduce tasks."""
    plan = Plan.for_budget(mem)
    wanted = max((nbytes + ORDER_BYTES_PER_RECORD * nrecords) / (BUCKET_FILL * plan.order_budget), 2 * workers, 1)
    return min(max(math.ceil(math.log2(wanted)), 0), 16)


def bucket_rows(indexes: list[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """Gather the spill files' index rows by bucket: (non-empty buckets in key order, their
    rows, each with the number of its spill file appended as column ``SPILL``)."""
    tagged = [np.column_stack((rows, np.full(len(rows), k, dtype=np.int64))) for k, rows in enumerate(indexes)]
    table = np.concatenate(tagged) if tagged else np.empty((0, 8), dtype=np.int64)
    if not len(table):
        return [], []
    table = table[np.argsort(table[:, BUCKET], kind="stable")]
    buckets, starts = np.unique(table[:, BUCKET], return_index=True)
    return buckets.tolist(), np.split(table, starts[1:])


def piece_limits(counts: list[int], outputs: int) -> list[tuple[int, list[int]]]:
    """For each bucket of ``counts`` records (in key order): the first output its records
    go to, and after which of its records each of its pieces ends.

    Output ``s`` gets records ``[s * n // K, (s + 1) * n // K)`` of the whole shuffle, as
    the local engine's ``--shards``; a bucket spanning several outputs writes one piece each.
    """
    total = sum(counts)
    ends = [(s + 1) * total // outputs for s in range(outputs)]
    out = []
    done = 0
    for n in counts:
        first = int(np.searchsorted(ends, done, side="right"))
        last = int(np.searchsorted(ends, done + n - 1, side="right"))
        out.append((first, [min(ends[s], done + n) - done for s in range(first, last + 1)]))
        done += n
    return out


# -- the driver ------------------------------------------------------------------------------


@dataclass
class DaskRun:
    """One shuffle on a cluster: plans the stages, submits them and commits the outputs."""

    srcs: list[str]
    dst: str
    shards: int | None
    sep: bytes
    spec: core.KeySpec
    mem: int
    header: int
    decompress: str | None
    scheduler: str | None
    temp_url: str | None
    tmp_dirs: list[str]
    jobs: int
    progress: bool
    quiet: bool

    def run(self) -> None:
        distributed, _ = _imports()
        if "-" in self.srcs:
            raise ShufBigError("--engine dask reads files or URLs, not standard input")
        if self.scheduler and not self.temp_url:
            raise ShufBigError("--engine dask with --scheduler needs --temp-url on storage every worker can reach")
        blocks, header = self._blocks()
        outputs = self._outputs()
        run_url = f"{(self.temp_url or self.tmp_dirs[0]).rstrip('/')}/shuf-big-{secrets.token_hex(8)}"
        fs, run_path = _fs(run_url)
        cluster = None
        client = None
        temps: list[tuple[Any, str, str]] = []
        try:
            for out in outputs:
                if isinstance(out, Output):
                    out.open()
            fs.makedirs(run_path, exist_ok=True)
            if self.scheduler:
                client = distributed.Client(self.scheduler)
            else:
                cluster = distributed.LocalCluster(
                    n_workers=self.jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                client = distributed.Client(cluster)
                if not self.quiet and importlib.util.find_spec("bokeh") is not None:
                    print(f"shuf-big: Dask dashboard at {cluster.dashboard_link}", file=sys.stderr)
            threads = [w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()]
            settings = Settings(self.sep, self.spec, max(self.mem // max(threads or [1]), MIN_MEM), run_url)
            temps = self._stages(client, distributed, blocks, header, outputs, settings)
            for out in outputs:
                if isinstance(out, Output):
                    out.commit()
            for fs_out, temp, path in temps:
                fs_out.mv(temp, path)
            temps = []
        finally:
            for out in outputs:
                if isinstance(out, Output):
                    out.discard()
            for fs_out, temp, _ in temps:
                with contextlib.suppress(Exception):
                    fs_out.rm(temp)
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
            with contextlib.suppress(Exception):
                fs.rm(run_path, recursive=True)

    def _outputs(self) -> list[Output | str]:
        """Each output file: an :class:`Output` this process writes (a local path or
        standard output) or a URL a concat task writes."""
        names = [self.dst] if self.shards is None else shard_names(self.dst, self.shards)
        if self.shards is not None and self.dst == "-":
            raise ShufBigError("--shards needs -o PATTERN naming the shard files")
        return [name if is_url(name) else Output(name) for name in names]

    def _blocks(self) -> tuple[list[Block], bytes]:
        """Every input as one block (cut later, see :func:`cut`); the first input's header."""
        blocks: list[Block] = []
        header = b""
        whole_file = overlaps_itself(self.sep)
        for number, url in enumerate(expand_globs(self.srcs)):
            what = f"'{url}'"
            fs, path = _fs(url)
            try:
                info = fs.info(path)
            except FileNotFoundError:
                raise ShufBigError(f"cannot open {what}: No such file or directory") from None
            except OSError as err:
                raise ShufBigError(f"cannot open {what}: {describe(err)}") from None
            if info.get("type") == "directory":
                raise ShufBigError(f"cannot read {what}: Is a directory")
            size = int(info.get("size") or 0)
            fmt = self.decompress or compression_of(path)
            if fmt is not None or whole_file:
                block = Block(url, what, 0, -1, size, fmt, self.header)
                if self.header and number == 0:
                    raw, handle = _whole_input(replace(block, skip=0))
                    with handle:
                        header, _, _ = split_header(lambda v, r=raw, w=what: read_fully(r, v, w), self.sep, self.header)
                blocks.append(block)
                continue
            start = 0
            if self.header:
                with _open_input(url, what) as handle:
                    head, _, start = split_header(
                        lambda v, h=handle, w=what: read_fully(h, v, w), self.sep, self.header
                    )
                if number == 0:
                    header = head
            blocks.append(Block(url, what, start, size, size, None, 0))
        return blocks, header

    def _stages(
        self,
        client: Any,
        distributed: Any,
        blocks: list[Block],
        header: bytes,
        outputs: list[Output | str],
        settings: Settings,
    ) -> list[tuple[Any, str, str]]:
        """Run the four stages; returns (filesystem, temporary path, final path) of the URL
        outputs, for the caller to rename once every output is complete."""
        tag = secrets.token_hex(4)
        chunk = Plan.for_budget(settings.mem).read_buffer
        blocks = [piece for block in blocks for piece in cut(block, chunk)]
        with tqdm(total=0, unit="task", disable=not self.progress, file=sys.stderr) as bar:

            def stage(name: str, fn: Callable[..., Any], calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
                bar.set_description(f"dask: {name}")
                bar.total += len(calls)
                futures = [client.submit(fn, *args, key=f"shuf-big-{name}-{tag}-{key}") for key, args in calls]
                return self._wait(distributed, futures, bar)

            spans: list[Span] = stage(
                "count", count_block, [(str(i), (b, self.sep, chunk)) for i, b in enumerate(blocks)]
            )
            firsts = np.cumsum([0] + [s.records for s in spans]).tolist()
            total = firsts[-1]
            nbytes = sum((s.end - s.start) if s.start >= 0 else s.block.size for s in spans)
            workers = len(client.scheduler_info()["workers"])
            settings = replace(settings, fanout_bits=fanout_bits_for(nbytes, total, settings.mem, workers))
            maps = [(str(i), (s, firsts[i], i, settings)) for i, s in enumerate(spans) if s.records]
            spilled: list[tuple[str, np.ndarray]] = stage("scatter", map_block, maps)
            spills = [url for url, _ in spilled]
            buckets, per_bucket = bucket_rows([rows for _, rows in spilled])
            counts = [int(rows[:, RECORDS].sum()) for rows in per_bucket]
            if sum(counts) != total:
                raise ShufBigError("the inputs changed while being read")
            compress = [compression_of(o if isinstance(o, str) else o.path) for o in outputs]
            pieces: list[list[str]] = [[] for _ in outputs]
            reduces = []
            for b, rows, (first, limits) in zip(buckets, per_bucket, piece_limits(counts, len(outputs)), strict=True):
                urls = [f"{settings.run}/piece-{b:05x}-{first + p:05d}" for p in range(len(limits))]
                for p, url in enumerate(urls):
                    pieces[first + p].append(url)
                reduces.append((str(b), (rows, spills, urls, limits, compress[first], settings)))
            stage("order", reduce_bucket, reduces)
            remote = [(s, o) for s, o in enumerate(outputs) if isinstance(o, str)]
            written = stage("write", concat_output, [(str(s), (o, header, pieces[s], compress[s])) for s, o in remote])
            for s, out in enumerate(outputs):
                if isinstance(out, Output):
                    out.write([memoryview(_header_bytes(header, compress[s], not pieces[s]))])
                    _copy_pieces(pieces[s], out.write)
        return [(_fs(o)[0], temp, _fs(o)[1]) for (_, o), temp in zip(remote, written, strict=True)]

    @staticmethod
    def _wait(distributed: Any, futures: list[Any], bar: tqdm) -> list[Any]:
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
