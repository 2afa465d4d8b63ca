"""Outputs: one destination written atomically, or ``--shards K`` files cut from one shuffle.

A regular file is written to a nameless file in its directory (``O_TMPFILE``; where the
file system has none, a hidden temp file beside it) and given its name only when the run
succeeded; every shard keeps that guarantee, compressed by its own name, in
blocks that worker threads compress at once (the shards of a run share those threads).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
from typing import IO, Protocol

from shuf_big.errors import ShufBigError, describe
from shuf_big.files.compression import DEFAULT_COMPRESSION, BlockPipeline, Blocks, Compression
from shuf_big.system.descriptors import write_all
from shuf_big.system.signals import deferred_signals
from shuf_big.system.tempfiles import OUTPUT_SUFFIX, commit_nameless, open_nameless, owner_tag, reap_stale

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
    """Where the engine writes ordered records (:class:`Output` or a sharded one).

    ``records``, when the engine knows it, is how many records end in ``parts``; a write
    that ends more than one record then starts where a record starts (pass 2 and the
    in-memory path write whole sub-buckets).  A sharded output finds its cuts from these
    counts instead of searching every byte for separators.
    """

    def write(self, parts: list[memoryview], records: int | None = None) -> int: ...
    def expect(self, nrecords: int, nbytes: int | None = None) -> None: ...


class Output:
    """The destination: stdout, a device, or a regular file replaced atomically.

    A regular-file destination is written to a nameless file in its directory, linked
    into place only when the whole shuffle succeeded, so a failed, interrupted or killed
    run leaves an existing file untouched and nothing else (and the input may be the
    output).  Where the file system refuses nameless files, a hidden temp file beside the
    destination is renamed over it instead.
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
        self.nameless = False  # written to an O_TMPFILE file, linked into place at commit
        self.mode = 0o600
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

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        """Told the record count before the first write (sharded outputs need it), and
        their bytes where the engine knows them (an upload's part size follows them)."""
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
            fd = open_nameless(folder, os.O_RDWR, 0o600)  # readable: see commit_nameless
            if fd is not None:
                self.fd, self.nameless = fd, True
            else:
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
        self.mode = mode
        self.target = target

    def shared_path(self) -> str | None:
        """A path by which other processes of this host can write this output's temp file
        in place (the Dask engine's reduce tasks), or None: standard output, a device, a
        compressed or trimmed stream."""
        if self.blocks is not None or self.trim:
            return None
        if self.nameless:
            return f"/proc/{os.getpid()}/fd/{self.fd}"
        return self.temp_path

    def write(self, parts: list[memoryview], records: int | None = None) -> int:
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
        """Make the output visible by linking or renaming it into place (as GNU tools,
        without fsync)."""
        self.finish()
        if self.blocks is not None:
            self.blocks.pipeline.drain()
        if self.nameless:
            try:
                commit_nameless(self.fd, self.target, self.mode)
            except OSError as err:
                raise ShufBigError(f"cannot replace {self.name}: {describe(err)}") from None
            self.nameless = False
            fd, self.fd = self.fd, -1  # forgotten first: a signal after the close cannot close it twice
            os.close(fd)
            return
        if self.temp_path is None:
            return
        fd, self.fd = self.fd, -1
        os.close(fd)
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
        fd, self.fd = self.fd, -1
        if fd >= 0 and self.path != "-":
            os.close(fd)
        if self.temp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp_path)
            self.temp_path = None
