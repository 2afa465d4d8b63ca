"""``--shards K``: one shuffle cut into ``K`` files of near-equal record counts, each an
atomic :class:`~shuf_big.files.outputs.Output`; and :func:`open_output`, which picks one or the other."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import IO, Protocol

import numpy as np

from shuf_big import core
from shuf_big.errors import ShufBigError
from shuf_big.files.compression import DEFAULT_COMPRESSION, BlockPipeline, Codec, Compression, compression_of
from shuf_big.files.outputs import Output
from shuf_big.files.remote import RemoteOutput
from shuf_big.storage.store import Store
from shuf_big.storage.urls import is_url
from shuf_big.system.signals import checkpoint


def shard_names(pattern: str, shards: int) -> list[str]:
    """The file names of ``shards`` shards: ``pattern.format(shard=i, shards=shards)``.

    ``{shard}`` counts from 0, as the ``train-00000-of-00004`` convention; a pattern that
    does not tell the shards apart is an error.
    """
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    if not fields <= {"shard", "shards"}:
        bad = ", ".join(sorted("{" + name + "}" for name in fields - {"shard", "shards"}))
        raise ShufBigError(f"invalid output pattern '{pattern}': unknown field {bad} (use {{shard}} and {{shards}})")
    try:
        names = [pattern.format(shard=i, shards=shards) for i in range(shards)]
    except (ValueError, IndexError) as err:
        raise ShufBigError(f"invalid output pattern '{pattern}': {err}") from None
    if len(set(names)) < shards:
        raise ShufBigError(f"--shards {shards} needs an output pattern with {{shard}}, e.g. 'out-{{shard:05d}}.txt'")
    return names


class ShardFile(Protocol):
    """What :class:`ShardedOutput` fills: an :class:`~shuf_big.files.outputs.Output` or a Dask piece."""

    preamble: bytes
    written: int  # bytes before compression

    def open(self) -> None: ...
    def expect(self, nrecords: int, nbytes: int | None = None) -> None: ...
    def write(self, parts: list[memoryview]) -> int: ...
    def finish(self) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class ShardedOutput:
    """``K`` output files of near-equal record counts, filled one after another.

    Shard ``s`` gets records ``[s * n // K, (s + 1) * n // K)`` of the shuffle, so the engine
    must call :meth:`expect` with ``n`` before writing (or ``limits`` are given: file ``s``
    ends after record ``limits[s]``).  Every file gets the header lines on top; a file is finished as soon
    as the next one starts, so only one compressed block is being filled at a time.

    A write that says how many records it holds goes whole to the current file unless a
    cut falls inside it; only such a write (about ``K`` of them in a run) is searched for
    record ends.  A write without a count is searched all through, as a stream.
    """

    def __init__(self, outputs: Sequence[ShardFile], sep: bytes, limits: list[int] | None = None) -> None:
        self.outputs = list(outputs)
        self.sep = sep
        self.framer = core.StreamFramer(sep)  # for writes without a record count: one stream
        self.limits = limits
        self.current = 0
        self.done = 0  # records written so far

    @classmethod
    def from_pattern(
        cls,
        pattern: str,
        shards: int,
        sep: bytes,
        trim: bytes = b"",
        settings: Compression = DEFAULT_COMPRESSION,
        store: Store | None = None,
        expected: int | None = None,
    ) -> ShardedOutput:
        """Shards named by ``pattern`` (see :func:`shard_names`), compressed by their names
        on one pool of threads; ``expected``: about the bytes of all of them."""
        if shards < 1:
            raise ShufBigError(f"invalid number of shards: {shards}")
        if pattern == "-":
            raise ShufBigError("--shards needs -o PATTERN naming the shard files")
        pipelines: dict[Codec, BlockPipeline] = {}
        outputs = []
        for name in shard_names(pattern, shards):
            fmt = compression_of(name)
            codec = settings.codec(fmt, f"'{name}'") if fmt else None
            pipeline = pipelines.setdefault(codec, settings.pipeline(codec)) if codec else None
            share = None if expected is None else expected // shards
            outputs.append(one_output(name, fmt, trim, settings, pipeline, store, share))
        return cls(outputs, sep)

    def set_header(self, header: bytes) -> None:
        for out in self.outputs:
            out.preamble = header

    def open(self) -> None:
        self.outputs[0].open()

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        k = len(self.outputs)
        self.limits = [(s + 1) * nrecords // k for s in range(k)]
        for out, count in zip(self.outputs, self.shard_records(), strict=True):
            # a shard's bytes are about its share of the records' (a random sample of them)
            out.expect(count, None if nbytes is None else -(-nbytes * count // max(nrecords, 1)))

    @property
    def records(self) -> int:
        return self.limits[-1] if self.limits else 0

    @property
    def written(self) -> int:
        return sum(out.written for out in self.outputs)

    def shard_records(self) -> list[int]:
        """Records per shard, in order."""
        limits = self.limits or [0] * len(self.outputs)
        return [hi - lo for lo, hi in zip([0, *limits[:-1]], limits, strict=True)]

    def write(self, parts: list[memoryview], records: int | None = None) -> int:
        if self.limits is None:
            raise AssertionError("ShardedOutput.write before expect()")
        if records is None:
            return self._write_framed(parts, self.framer)
        self._skip_full()
        if self.current == len(self.outputs) - 1 or self.done + records <= self.limits[self.current]:
            self.done += records
            return self.outputs[self.current].write(parts)
        # A cut inside: the write starts at a record start, so a fresh framer finds its records.
        before = self.done
        total = self._write_framed(parts, core.StreamFramer(self.sep))
        if self.done - before != records:
            raise AssertionError(f"a write said it held {records} records, its bytes hold {self.done - before}")
        return total

    def _skip_full(self) -> None:
        """Move on past the shards that already hold all their records (empty ones included)."""
        assert self.limits is not None
        while self.current < len(self.outputs) - 1 and self.done >= self.limits[self.current]:
            self.current += 1
            self.outputs[self.current].open()

    def _write_framed(self, parts: list[memoryview], framer: core.StreamFramer) -> int:
        """Write ``parts``, cutting between shards where ``framer`` finds the limits' record ends."""
        assert self.limits is not None
        total = 0
        pending: list[memoryview] = []  # for the current file: written at a cut or at the end
        for part in parts:
            total += len(part)
            ends = framer.feed(np.frombuffer(part, dtype=np.uint8))
            at = used = 0
            while self.current < len(self.outputs) - 1 and self.done + len(ends) - used >= self.limits[self.current]:
                take = self.limits[self.current] - self.done
                cut = int(ends[used + take - 1]) if take else at
                if cut > at:
                    pending.append(part[at:cut])
                if pending:
                    self.outputs[self.current].write(pending)
                    pending = []
                at, used = cut, used + take
                self.done += take
                self.outputs[self.current].finish()
                self.current += 1
                self.outputs[self.current].open()
            if at < len(part):
                pending.append(part[at:])
            self.done += len(ends) - used
        if pending:
            self.outputs[self.current].write(pending)
        return total

    def commit(self) -> None:
        for out in self.outputs[self.current + 1 :]:
            out.open()  # a shard with no records still gets its file
        checkpoint("shards written")
        for out in self.outputs:
            out.finish()  # every file complete before the first is renamed into place
        for out in self.outputs:
            out.commit()
            checkpoint("shard committed")

    def discard(self) -> None:
        for out in self.outputs:
            out.discard()


def one_output(
    name: str,
    fmt: str | None,
    trim: bytes,
    settings: Compression,
    pipeline: BlockPipeline | None = None,
    store: Store | None = None,
    expected: int | None = None,
) -> Output:
    """The output file ``name``: an upload for a URL (``expected`` bytes setting its part
    size), else a local file."""
    if is_url(name):
        return RemoteOutput(name, store or Store(), fmt, trim, settings, expected, pipeline=pipeline)
    return Output(name, fmt, trim=trim, settings=settings, pipeline=pipeline)


def open_output(
    path: str | IO[bytes],
    shards: int | None,
    sep: bytes,
    trim: bytes = b"",
    settings: Compression = DEFAULT_COMPRESSION,
    store: Store | None = None,
    expected: int | None = None,
) -> Output | ShardedOutput:
    """The destination for ``-o path`` (compressed by its extension, as ``settings`` say),
    sharded if asked; ``expected``: about how many bytes it gets, when known."""
    if not isinstance(path, str):
        if shards is not None:
            raise ShufBigError("--shards needs -o PATTERN naming the shard files, not a file object")
        return Output(path, trim=trim)
    if shards is not None:
        return ShardedOutput.from_pattern(path, shards, sep, trim, settings, store, expected)
    return one_output(path, None if path == "-" else compression_of(path), trim, settings, None, store, expected)
