"""Outputs: one destination written atomically, or ``--shards K`` files cut from one shuffle.

A regular file is written to a hidden temp file beside it and renamed into place only when
the run succeeded; every shard keeps that guarantee, compressed by its own name, in
blocks that worker threads compress at once (the shards of a run share those threads).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import string
import sys
import tempfile
from collections.abc import Sequence
from typing import IO, Protocol

import numpy as np

from . import core
from .compression import DEFAULT_COMPRESSION, BlockPipeline, Blocks, Codec, Compression, compression_of
from .errors import ShufBigError, describe
from .signals import deferred_signals
from .tempfiles import OUTPUT_SUFFIX, owner_tag, reap_stale

IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def write_all(fd: int, parts: list[memoryview]) -> int:
    """``writev`` every byte of ``parts`` to ``fd``, retrying short writes; return the count."""
    total = 0
    pending = [p for p in parts if len(p)]
    pending.reverse()  # pop from the end: cheap
    while pending:
        batch = pending[-1 : -IOV_MAX - 1 : -1]
        done = os.writev(fd, batch)
        total += done
        while pending and done >= len(pending[-1]):
            done -= len(pending.pop())
        if pending and done:
            pending[-1] = pending[-1][done:]
    return total


_DESCRIPTOR_PATH = re.compile(r"/dev/(stdout|stderr|fd/([0-9]+))|/proc/self/fd/([0-9]+)")


def descriptor_of(path: str) -> int | None:
    """The file descriptor a ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` path names.

    Reopening such a path fails for sockets and would truncate a file the shell opened
    for appending; GNU shuf writes to the descriptor it already has.
    """
    match = _DESCRIPTOR_PATH.fullmatch(path)
    if match is None:
        return None
    if match.group(1) in ("stdout", "stderr"):
        return 1 if match.group(1) == "stdout" else 2
    return int(match.group(2) or match.group(3))


class Sink(Protocol):
    """Where the engine writes ordered records (:class:`Output` or a sharded one)."""

    def write(self, parts: list[memoryview]) -> int: ...
    def expect(self, nrecords: int) -> None: ...


class Output:
    """The destination: stdout, a device, or a regular file replaced atomically.

    A regular-file destination is written to a hidden temp file beside it and renamed
    over it only when the whole shuffle succeeded, so a failed or interrupted run leaves
    an existing file untouched (and the input may be the output).
    """

    def __init__(
        self,
        path: str | IO[bytes],
        compress: str | None = None,
        preamble: bytes = b"",
        trim: bytes = b"",
        settings: Compression = DEFAULT_COMPRESSION,
        pipeline: BlockPipeline | None = None,
    ) -> None:
        # A writable binary file object (the Python API) is written as it is, never closed.
        self.stream = None if isinstance(path, str) else path
        self.path = path if isinstance(path, str) else "-"
        self.name = "standard output" if path == "-" else f"'{path}'" if isinstance(path, str) else "the file object"
        self.temp_path: str | None = None
        self.target = self.path
        self.fd = -1
        self.blocks: Blocks | None = None
        if compress:
            self.blocks = Blocks(pipeline or settings.pipeline(settings.codec(compress, self.name)), self._write)
        self.preamble = preamble  # written first (--header lines)
        self.trim = trim  # dropped if the stream ends with it (paragraph mode's last blank line)
        self.held = b""
        self.finished = False
        self.written = 0  # bytes of records and header, before compression
        self.records = 0  # what expect() was told

    def set_header(self, header: bytes) -> None:
        """Lines to write on top, before any record (``--header``)."""
        self.preamble = header

    def expect(self, nrecords: int) -> None:
        """Told the record count before the first write (sharded outputs need it)."""
        self.records = nrecords

    def open(self) -> None:
        """Open the destination (for a regular file, its hidden temp file)."""
        path = self.path
        if self.stream is not None:
            return
        if path == "-":
            self.fd = sys.stdout.fileno()
            return
        number = descriptor_of(path)
        if number is not None:  # /dev/stdout, /dev/fd/N: the open descriptor, written in place as GNU does
            try:
                self.fd = os.dup(number)
            except OSError as err:
                raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
            return
        target = os.path.realpath(path)
        try:
            st: os.stat_result | None = os.stat(path)  # through the link: /proc's "pipe:[N]" has no realpath
        except FileNotFoundError:
            st = None
        except OSError as err:
            raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise ShufBigError(f"cannot open '{path}' for writing: Is a directory")
            try:  # a device or FIFO: write in place, there is nothing to replace
                self.fd = os.open(path, os.O_WRONLY)
            except OSError as err:
                raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
            return
        folder, base = os.path.split(target)
        folder = folder or "."
        reap_stale(folder, f".{base}.", OUTPUT_SUFFIX)
        try:
            with deferred_signals():
                self.fd, self.temp_path = tempfile.mkstemp(
                    prefix=f".{base}.{owner_tag()}", suffix=OUTPUT_SUFFIX, dir=folder
                )
        except OSError as err:
            raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(self.fd, mode)
        self.target = target

    def write(self, parts: list[memoryview]) -> int:
        """Write records; returns their byte count (before compression)."""
        if not (self.preamble or self.trim or self.blocks):
            done = self._write(parts)
            self.written += done
            return done
        size = sum(len(p) for p in parts)
        self.written += size + len(self.preamble)
        if self.preamble:
            parts = [memoryview(self.preamble), *parts]
            self.preamble = b""
        if self.trim:
            parts = self._hold(parts)
        if self.blocks is not None:
            self.blocks.write(parts)
        else:
            self._write(parts)
        return size

    def _hold(self, parts: list[memoryview]) -> list[memoryview]:
        """Keep back the stream's last ``len(trim)`` bytes until it is known to end there."""
        need = len(self.trim)
        out = [memoryview(self.held), *parts] if self.held else list(parts)
        kept: list[bytes] = []
        while out and need:
            last = out.pop()
            if len(last) <= need:
                kept.insert(0, bytes(last))
                need -= len(last)
            else:
                kept.insert(0, bytes(last[len(last) - need :]))
                out.append(last[: len(last) - need])
                need = 0
        self.held = b"".join(kept)
        return out

    def _write(self, parts: list[memoryview]) -> int:
        if self.stream is not None:
            for part in parts:
                self.stream.write(part)
            return sum(len(p) for p in parts)
        try:
            return write_all(self.fd, parts)
        except BrokenPipeError:
            raise  # the reader left: the CLI dies quietly by SIGPIPE, like coreutils
        except OSError as err:
            raise ShufBigError(f"write error on {self.name}: {describe(err)}") from None

    def finish(self) -> None:
        """Write what is still held: a header of an empty output, held bytes, the last
        block (compressed blocks may be in flight until :meth:`commit`)."""
        if self.finished:
            return
        self.finished = True
        tail = [memoryview(self.preamble)]
        self.written += len(self.preamble)
        if self.held and self.held != self.trim:
            tail.append(memoryview(self.held))
        elif self.held:
            self.written -= len(self.held)  # the trimmed last blank line was counted
        if self.blocks is not None:
            self.blocks.write(tail)
            self.blocks.finish()
        else:
            self._write(tail)

    def commit(self) -> None:
        """Make the output visible by renaming it into place (as GNU tools, without fsync)."""
        self.finish()
        if self.blocks is not None:
            self.blocks.pipeline.drain()
        if self.temp_path is None:
            return
        os.close(self.fd)
        self.fd = -1
        try:
            with deferred_signals():
                os.replace(self.temp_path, self.target)
                self.temp_path = None
        except OSError as err:
            raise ShufBigError(f"cannot replace {self.name}: {describe(err)}") from None

    def discard(self) -> None:
        """Drop a partial output (the existing destination is left as it was)."""
        if self.blocks is not None:
            self.blocks.pipeline.close()
        if self.fd >= 0 and self.path != "-":
            os.close(self.fd)
        self.fd = -1
        if self.temp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp_path)
            self.temp_path = None


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
    """What :class:`ShardedOutput` fills: an :class:`~shuf_big.io.Output` or a Dask piece."""

    preamble: bytes

    def open(self) -> None: ...
    def write(self, parts: list[memoryview]) -> int: ...
    def finish(self) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class ShardedOutput:
    """``K`` output files of near-equal record counts, filled one after another.

    Shard ``s`` gets records ``[s * n // K, (s + 1) * n // K)`` of the shuffle, so the engine
    must call :meth:`expect` with ``n`` before writing (or ``limits`` are given: file ``s``
    ends after record ``limits[s]``).  Record ends are found in the written bytes with the
    separator; every file gets the header lines on top.  A file is finished as soon as the
    next one starts, so only one compressed block is being filled at a time.
    """

    def __init__(self, outputs: Sequence[ShardFile], sep: bytes, limits: list[int] | None = None) -> None:
        self.outputs = list(outputs)
        self.framer = core.StreamFramer(sep)
        self.limits = limits
        self.current = 0
        self.done = 0  # records written so far

    @classmethod
    def from_pattern(
        cls, pattern: str, shards: int, sep: bytes, trim: bytes = b"", settings: Compression = DEFAULT_COMPRESSION
    ) -> ShardedOutput:
        """Shards named by ``pattern`` (see :func:`shard_names`), compressed by their names
        on one pool of threads."""
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
            outputs.append(Output(name, fmt, trim=trim, settings=settings, pipeline=pipeline))
        return cls(outputs, sep)

    def set_header(self, header: bytes) -> None:
        for out in self.outputs:
            out.preamble = header

    def open(self) -> None:
        self.outputs[0].open()

    def expect(self, nrecords: int) -> None:
        k = len(self.outputs)
        self.limits = [(s + 1) * nrecords // k for s in range(k)]

    @property
    def records(self) -> int:
        return self.limits[-1] if self.limits else 0

    @property
    def written(self) -> int:
        return sum(getattr(out, "written", 0) for out in self.outputs)

    def shard_records(self) -> list[int]:
        """Records per shard, in order."""
        limits = self.limits or [0] * len(self.outputs)
        return [hi - lo for lo, hi in zip([0, *limits[:-1]], limits, strict=True)]

    def write(self, parts: list[memoryview]) -> int:
        if self.limits is None:
            raise AssertionError("ShardedOutput.write before expect()")
        total = 0
        for part in parts:
            total += len(part)
            ends = self.framer.feed(np.frombuffer(part, dtype=np.uint8))
            at = used = 0
            while self.current < len(self.outputs) - 1 and self.done + len(ends) - used >= self.limits[self.current]:
                take = self.limits[self.current] - self.done
                cut = int(ends[used + take - 1]) if take else at
                if cut > at:
                    self.outputs[self.current].write([part[at:cut]])
                at, used = cut, used + take
                self.done += take
                self.outputs[self.current].finish()
                self.current += 1
                self.outputs[self.current].open()
            if at < len(part):
                self.outputs[self.current].write([part[at:]])
            self.done += len(ends) - used
        return total

    def commit(self) -> None:
        for out in self.outputs[self.current + 1 :]:
            out.open()  # a shard with no records still gets its file
        for out in self.outputs:
            out.finish()  # every file complete before the first is renamed into place
        for out in self.outputs:
            out.commit()

    def discard(self) -> None:
        for out in self.outputs:
            out.discard()


def open_output(
    path: str | IO[bytes],
    shards: int | None,
    sep: bytes,
    trim: bytes = b"",
    settings: Compression = DEFAULT_COMPRESSION,
) -> Output | ShardedOutput:
    """The destination for ``-o path`` (compressed by its extension, as ``settings`` say),
    sharded if asked."""
    if not isinstance(path, str):
        if shards is not None:
            raise ShufBigError("--shards needs -o PATTERN naming the shard files, not a file object")
        return Output(path, trim=trim)
    if shards is not None:
        return ShardedOutput.from_pattern(path, shards, sep, trim, settings)
    return Output(path, None if path == "-" else compression_of(path), trim=trim, settings=settings)
