"""One run, resolved: the :class:`Job` every engine takes, and the :class:`Engine` contract.

Options are normalised once, by :func:`shuf_big.options.resolve.resolve`; engines read the job's
fields and never re-derive them (the separator as bytes, the key function from the seed,
the plan from the budget, the temp dirs from the environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO, Protocol

from shuf_big.budget.plan import Plan
from shuf_big.budget.sizes import format_size
from shuf_big.core import KeySpec
from shuf_big.errors import ShufBigError
from shuf_big.files.readers import Source
from shuf_big.storage.urls import StorageOptions

# An output: a path ("-" is standard output) or a writable binary file object (the Python API).
Target = str | IO[bytes]

# What a paragraph-mode separator (``--record-separator ''``) turns documents into.
PARAGRAPH_END = b"\n\n"


@dataclass(frozen=True)
class Separator:
    """What ends a record: ``token`` bytes, or blank lines between documents (``paragraphs``).

    In paragraph mode the inputs are normalised so that every document ends with exactly
    ``"\\n\\n"``; ``token`` is then that, and ``trim`` is the last blank line the output
    drops (one blank line between documents, none at the end).
    """

    token: bytes = b"\n"
    paragraphs: bool = False

    @classmethod
    def of(cls, zero_terminated: bool = False, record_separator: str | bytes | None = None) -> Separator:
        if record_separator is None:
            return cls(b"\0" if zero_terminated else b"\n")
        if zero_terminated:
            raise ShufBigError("-z and --record-separator cannot be combined")
        if isinstance(record_separator, str):
            record_separator = os.fsencode(record_separator)
        if record_separator == b"":
            return cls(PARAGRAPH_END, paragraphs=True)
        return cls(bytes(record_separator))

    @property
    def trim(self) -> bytes:
        return b"\n" if self.paragraphs else b""


@dataclass(frozen=True)
class Job:
    """Everything a run needs, validated: inputs, outputs, the permutation and the budget."""

    inputs: tuple[Source, ...]  # paths, URLs or binary file objects; "-" is standard input
    outputs: tuple[Target, ...]  # one, or one per input with ``aligned``; "-" is standard output
    sep: Separator
    spec: KeySpec  # the key function of the seed: the permutation
    plan: Plan
    temp_dirs: tuple[str, ...]
    header: int = 0
    decompress: str | None = None
    compress_level: int | None = None  # validated for every compressed output; None: each format's default
    shards: int | None = None
    aligned: bool = False
    head_count: int | None = None
    echo: tuple[bytes, ...] | None = None  # -e: these are the records
    input_range: tuple[int, int] | None = None  # -i: the numbers lo..hi are the records
    repeat: bool = False
    engine: str = "local"
    scheduler: str | None = None
    temp_url: str | None = None
    progress: bool = False
    quiet: bool = False
    origins: tuple[str, ...] = ()  # per input, "LIST:LINE" of --files-from (for messages); () for operands
    storage_options: StorageOptions = field(default_factory=StorageOptions)  # for URL inputs and outputs

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def generated(self) -> bool:
        """Whether the records are GNU shuf's ``-e`` operands, ``-i`` numbers or ``-r`` draws."""
        return self.echo is not None or self.input_range is not None or self.repeat


@dataclass
class Stats:
    """What a run's stages count, each adding its own figures as it goes: the paths taken
    and what they read (the shuffler), pass 1's buckets and temp bytes and pass 2's splits
    (the external shuffle).  :meth:`Result.of` builds the result, and so ``-v``, from it.
    ``records_in``/``bytes_in`` are None where records are drawn, not read.
    """

    records_in: int | None = 0
    bytes_in: int | None = 0
    paths: list[str] = field(default_factory=list)
    buckets: int = 0
    splits: int = 0
    temp_bytes: int = 0  # on disk
    temp_plain: int = 0  # what they would be uncompressed
    temp_compressed: bool = False
    downloaded: int = 0  # bytes fetched from object storage (read-ahead included)
    uploaded: int = 0  # bytes sent to it

    def took(self, path: str, records: int, nbytes: int) -> None:
        """One stream went ``path`` ("in memory", "external", ...) and read these."""
        self.paths.append(path)
        self.records_in = None if self.records_in is None else self.records_in + records
        self.bytes_in = None if self.bytes_in is None else self.bytes_in + nbytes

    @property
    def path(self) -> str:
        """The path(s) taken, each once, in order (per input with --aligned)."""
        return ", ".join(dict.fromkeys(self.paths)) or "none"


@dataclass
class Result:
    """What a run did, returned by :func:`shuf_big.shuffle` and printed by ``-v``.

    ``seed`` reruns an unseeded shuffle exactly (``--seed``).  ``records`` and ``bytes``
    are what was written (header lines are in ``bytes`` but not ``records``; bytes before
    compression), ``records_in``/``bytes_in`` what was read (after decompression).
    Figures an engine cannot count (the Dask engine's) are None.
    """

    seed: int
    records: int | None = 0
    bytes: int | None = 0
    records_in: int | None = 0
    bytes_in: int | None = 0
    shard_records: list[int] | None = None  # with shards: records per shard, in order
    path: str = ""  # "in memory", "external", "streaming -n", "generated", "dask"
    buckets: int = 0  # bucket files of pass 1 (external path)
    splits: int = 0  # buckets split again in pass 2
    temp_bytes: int = 0  # bytes written to temp files (compressed, as on disk)
    temp_compressed: bool = False  # --compress-temp chose (or was told) to compress them
    temp_plain: int = 0  # what the temp files would have taken uncompressed
    temp_dirs: tuple[str, ...] = ()  # where they went (-T, $TMPDIR, /tmp or /var/tmp)
    downloaded: int = 0  # bytes fetched from object storage
    uploaded: int = 0  # bytes uploaded to it (compressed, as stored)
    mem: int = 0  # the --mem budget, in bytes
    peak_memory: int | None = 0  # the run's own peak RSS in bytes (shuf_big.system.peak); None: unknown
    seconds: float = 0.0  # wall time of the run
    outputs: list[Target] = field(default_factory=list)

    @classmethod
    def of(
        cls, job: Job, stats: Stats, records: int | None, nbytes: int | None, shard_records: list[int] | None = None
    ) -> Result:
        """The result of ``job``: what its stages counted in ``stats``, and what was written."""
        return cls(
            seed=job.seed,
            records=records,
            bytes=nbytes,
            records_in=stats.records_in,
            bytes_in=stats.bytes_in,
            path=stats.path,
            buckets=stats.buckets,
            splits=stats.splits,
            temp_bytes=stats.temp_bytes,
            temp_compressed=stats.temp_compressed,
            temp_plain=stats.temp_plain,
            temp_dirs=job.temp_dirs,
            downloaded=stats.downloaded,
            uploaded=stats.uploaded,
            mem=job.plan.mem,
            shard_records=shard_records,
            outputs=list(job.outputs),
        )

    def report(self) -> str:
        """The ``-v`` block: one short paragraph on stderr."""

        def count(n: int | None) -> str:
            return "?" if n is None else f"{n:,}"

        def size(n: int | None) -> str:
            return "?" if n is None else format_size(n)

        path = self.path
        packed = ""
        if self.temp_compressed and self.temp_plain:
            packed = f" (compressed, {self.temp_bytes / self.temp_plain:.2f}x)"
        if self.path == "external":
            path += f" ({self.buckets} buckets, {self.splits} split)"
        lines = [
            f"seed:    {self.seed} (rerun with --seed {self.seed})",
            f"in:      {count(self.records_in)} records, {size(self.bytes_in)}",
            f"out:     {count(self.records)} records, {size(self.bytes)}",
            f"path:    {path}, {size(self.temp_bytes)} of temp files"
            + packed
            + (f" in {', '.join(self.temp_dirs)}" if self.temp_bytes and self.temp_dirs else ""),
            f"memory:  {size(self.peak_memory)} peak RSS, --mem {size(self.mem)}",
            f"time:    {self.seconds:.2f} s",
        ]
        if self.downloaded or self.uploaded:
            rate = f", {(self.downloaded + self.uploaded) / 2**20 / self.seconds:.1f} MiB/s" if self.seconds else ""
            lines.insert(-2, f"storage: {size(self.downloaded)} downloaded, {size(self.uploaded)} uploaded{rate}")
        if self.shard_records is not None:
            lines.insert(
                3,
                f"shards:  {len(self.shard_records)}, {min(self.shard_records, default=0):,} to "
                f"{max(self.shard_records, default=0):,} records each",
            )
        return "\n".join(lines)


class Engine(Protocol):
    """A way to run a job: on this machine, GNU shuf's generated modes, or a Dask cluster.

    ``supports`` names the features of :data:`shuf_big.options.features.FEATURES` it can
    run, and ``refusal`` words the one-line error for the others (``{option}`` is the
    feature); ``check`` refuses, with a one-line :class:`ShufBigError`, what else the
    engine cannot do, before any input is read or output created; ``run`` then does the
    whole job.
    """

    name: str
    supports: frozenset[str]
    refusal: str

    def check(self, job: Job) -> None: ...

    def run(self, job: Job) -> Result: ...
