"""The edges: reading records from streams, bucket files, atomic output and temp dirs.

Nothing here decides the order of records; it moves bytes in bounded buffers and turns
operating-system errors into one-line :class:`ShufBigError` messages.
"""

from __future__ import annotations

import bz2
import contextlib
import ctypes
import lzma
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .core import GapDecoder, completion, find_ends
from .errors import ShufBigError
from .sizes import format_size

TEMP_PREFIX = "shuf-big-"
OUTPUT_SUFFIX = ".shuf-big.tmp"
_HOST = socket.gethostname()


def _owner_tag() -> str:
    """``host-pid-``: lets a later run tell whether a temp file's owner is still alive."""
    return f"{_HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def reap_stale(folder: str, prefix: str, suffix: str = "") -> list[str]:
    """Remove ``prefix + host-pid-XXXX + suffix`` entries whose process is gone.

    A run killed with SIGKILL cannot clean up; the next run on the same host removes what
    it left.  Entries of live processes, other hosts (shared storage) and names that do
    not parse are left alone.
    """
    pattern = re.compile(re.escape(prefix + _HOST) + r"-(\d+)-[^-./]+" + re.escape(suffix) + "$")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or _alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(path)
    return removed


class Interrupted(BaseException):
    """Raised in the main thread for SIGINT, SIGTERM or SIGHUP, so cleanup runs first."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_held: list[int] = []  # signals that arrived inside deferred_signals()
_depth = 0


def _on_signal(signum: int, _frame: object) -> None:
    if _depth:
        _held.append(signum)
    else:
        raise Interrupted(signum)


def install_signal_handlers() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` (CLI use).

    A signal that was ignored when the process started stays ignored, as in coreutils:
    ``nohup`` ignores SIGHUP, and a shell without job control starts background commands
    with SIGINT ignored.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _on_signal)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold interrupts while a temp path is created and recorded for cleanup.

    Otherwise a signal landing between ``mkstemp`` returning and the path being stored
    would leave the file behind.  A signal mask cannot do this: the kernel hands a
    blocked process signal to another thread (numpy's BLAS threads), and Python then runs
    the handler in the main thread anyway.  A held signal is raised on leaving.
    """
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _held:
            signum = _held[0]
            _held.clear()
            raise Interrupted(signum)


def describe(err: OSError) -> str:
    """The strerror text of an OSError, as coreutils prints it."""
    return err.strerror or os.strerror(err.errno or 0) or str(err)


class Sink(Protocol):
    """Where the engine writes ordered records (:class:`Output` or a sharded one)."""

    def write(self, parts: list[memoryview]) -> int: ...
    def expect(self, nrecords: int) -> None: ...


class RawReader(Protocol):
    def readinto(self, buffer: memoryview) -> int | None: ...


def read_fully(raw: RawReader, view: memoryview, what: str) -> int:
    """Fill ``view`` from ``raw`` until it is full or the input ends; return bytes read."""
    filled = 0
    size = len(view)
    while filled < size:
        try:
            got = raw.readinto(view[filled:])
        except OSError as err:
            raise ShufBigError(f"read error on {what}: {describe(err)}") from None
        if not got:
            break
        filled += got
    return filled


def pread_fully(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``fd`` at ``offset`` without moving the file position; returns
    the bytes read (fewer only at the end of the file)."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if not n:
            break
        got += n
    return got


class PrefixedReader:
    """A raw reader that first returns bytes already read (a probe), then the stream.

    The probe buffer is dropped as soon as it is used up, so its memory is returned
    before pass 1 needs the rest of the budget.
    """

    def __init__(self, prefix: np.ndarray, rest: RawReader) -> None:
        self.prefix: np.ndarray | None = prefix
        self.offset = 0
        self.rest = rest

    def readinto(self, buffer: memoryview) -> int | None:
        if self.prefix is None:
            return self.rest.readinto(buffer)
        n = min(len(buffer), len(self.prefix) - self.offset)
        np.frombuffer(buffer, dtype=np.uint8, count=n)[:] = self.prefix[self.offset : self.offset + n]
        self.offset += n
        if self.offset >= len(self.prefix):
            self.prefix = None
        return n


@dataclass
class Batch:
    """Complete records: ``data[:ends[-1]]``, record k ending at ``ends[k]``."""

    data: np.ndarray
    ends: np.ndarray
    indices: np.ndarray


@dataclass
class LongRecord:
    """A record too long for the read buffer; its bytes come from ``parts``.

    ``parts`` must be consumed before the reader moves on.  The last part ends with the
    separator (added if the input's last record lacked one).
    """

    index: int
    parts: Iterator[memoryview]


class RecordReader:
    """Split a byte stream into batches of whole records within fixed memory bounds.

    A batch holds at most ``buffer_size`` bytes and ``max_records`` records; a record
    that does not fit in the buffer is handed out as a :class:`LongRecord` stream.
    ``take_indices(n)`` supplies the global indices of the next ``n`` records.
    """

    def __init__(
        self,
        raw: RawReader,
        sep: int | bytes,
        buffer_size: int,
        max_records: int,
        take_indices: Callable[[int], np.ndarray],
        what: str,
    ) -> None:
        self.raw = raw
        self.sep = bytes([sep]) if isinstance(sep, int) else bytes(sep)
        self.buffer = np.empty(buffer_size, dtype=np.uint8)
        self.view = memoryview(self.buffer)
        self.max_records = max_records
        self.take_indices = take_indices
        self.what = what
        self.filled = 0
        self.eof = False
        self.bytes_read = 0

    def _fill(self) -> None:
        if not self.eof and self.filled < len(self.buffer):
            got = read_fully(self.raw, self.view[self.filled :], self.what)
            self.bytes_read += got
            self.filled += got
            if self.filled < len(self.buffer):
                self.eof = True

    def _keep_tail(self, start: int) -> None:
        """Move ``buffer[start:filled]`` to the front (memmove: the ranges may overlap)."""
        rest = self.filled - start
        if rest and start:
            base = self.buffer.ctypes.data
            ctypes.memmove(base, base + start, rest)
        self.filled = rest

    def __iter__(self) -> Iterator[Batch | LongRecord]:
        window = max(self.max_records, 4096)
        start = 0  # bytes at the front of the buffer already handed out
        while True:
            if start:
                self._keep_tail(start)
                start = 0
            self._fill()
            if self.filled == 0:
                return
            ends = find_ends(self.buffer[: self.filled], self.sep, self.max_records, window)
            if len(ends):
                # Batches cut by the record limit (short lines): hand out the rest of the
                # buffer before moving its tail to the front, so no byte is moved twice.
                while len(ends):
                    yield Batch(self.buffer[start:], ends, self.take_indices(len(ends)))
                    start += int(ends[-1])
                    if len(ends) < self.max_records:
                        break
                    ends = find_ends(self.buffer[start : self.filled], self.sep, self.max_records, window)
            elif self.eof and self.filled + len(self.sep) <= len(self.buffer):
                # A last record without terminator gets one, as with GNU shuf.
                end = completion(self.view[max(self.filled - len(self.sep), 0) : self.filled].tobytes(), self.sep)
                self.buffer[self.filled : self.filled + len(end)] = np.frombuffer(end, dtype=np.uint8)
                self.filled += len(end)
            else:
                index = int(self.take_indices(1)[0])
                yield LongRecord(index, self._long_parts())

    def _long_parts(self) -> Iterator[memoryview]:
        """Stream a record that fills the whole buffer, up to and including its separator.

        The last ``len(sep) - 1`` bytes stay in the buffer between refills, so that a
        multi-byte separator split across two reads is still found.
        """
        keep = len(self.sep) - 1
        while True:
            hits = find_ends(self.buffer[: self.filled], self.sep, 1, max(self.filled, 1))
            if len(hits):
                end = int(hits[0])
                yield self.view[:end]
                self._keep_tail(end)
                return
            if self.eof:
                tail = self.view[: self.filled].tobytes()
                yield memoryview(tail + (completion(tail, self.sep) if tail else self.sep))
                self.filled = 0
                return
            if self.filled > keep:
                yield self.view[: self.filled - keep]
                self._keep_tail(self.filled - keep)
            self._fill()


class IndexStream:
    """Global record indices decoded lazily from a bucket's gap file."""

    def __init__(self, raw: RawReader, chunk: int, what: str) -> None:
        self.raw = raw
        self.decoder = GapDecoder()
        self.queue = np.empty(0, dtype=np.int64)
        self.chunk = np.empty(chunk, dtype=np.uint16)
        self.what = what

    def take(self, n: int) -> np.ndarray:
        while len(self.queue) < n:
            got = read_fully(self.raw, memoryview(self.chunk).cast("B"), self.what)
            if got == 0:
                raise ShufBigError(f"temporary file {self.what} is truncated")
            fresh = self.decoder.feed(self.chunk[: got // 2])
            self.queue = np.concatenate((self.queue, fresh))
        taken, self.queue = self.queue[:n], self.queue[n:]
        return taken


class Counter:
    """Global indices for records read straight from the input: 0, 1, 2, ..."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


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


class Output:
    """The destination: stdout, a device, or a regular file replaced atomically.

    A regular-file destination is written to a hidden temp file beside it and renamed
    over it only when the whole shuffle succeeded, so a failed or interrupted run leaves
    an existing file untouched (and the input may be the output).
    """

    def __init__(self, path: str, compress: str | None = None, preamble: bytes = b"", trim: bytes = b"") -> None:
        self.path = path
        self.name = "standard output" if path == "-" else f"'{path}'"
        self.temp_path: str | None = None
        self.target = path
        self.fd = -1
        self.encoder = make_encoder(compress) if compress else None
        self.preamble = preamble  # written first (--header lines)
        self.trim = trim  # dropped if the stream ends with it (paragraph mode's last blank line)
        self.held = b""
        self.finished = False

    def set_header(self, header: bytes) -> None:
        """Lines to write on top, before any record (``--header``)."""
        self.preamble = header

    def expect(self, nrecords: int) -> None:
        """Told the record count before the first write (sharded outputs need it)."""

    def open(self) -> None:
        """Open the destination (for a regular file, its hidden temp file)."""
        path = self.path
        if path == "-":
            self.fd = sys.stdout.fileno()
            return
        target = os.path.realpath(path)
        try:
            st: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            st = None
        except OSError as err:
            raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise ShufBigError(f"cannot open '{path}' for writing: Is a directory")
            try:  # a device or FIFO: write in place, there is nothing to replace
                self.fd = os.open(target, os.O_WRONLY)
            except OSError as err:
                raise ShufBigError(f"cannot open '{path}' for writing: {describe(err)}") from None
            return
        folder, base = os.path.split(target)
        folder = folder or "."
        reap_stale(folder, f".{base}.", OUTPUT_SUFFIX)
        try:
            with deferred_signals():
                self.fd, self.temp_path = tempfile.mkstemp(
                    prefix=f".{base}.{_owner_tag()}", suffix=OUTPUT_SUFFIX, dir=folder
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
        if not (self.preamble or self.trim or self.encoder):
            return self._write(parts)
        size = sum(len(p) for p in parts)
        if self.preamble:
            parts = [memoryview(self.preamble), *parts]
            self.preamble = b""
        if self.trim:
            parts = self._hold(parts)
        if self.encoder is not None:
            parts = [memoryview(self.encoder.compress(p)) for p in parts]
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
        try:
            return write_all(self.fd, parts)
        except BrokenPipeError:
            raise  # the reader left: the CLI dies quietly by SIGPIPE, like coreutils
        except OSError as err:
            raise ShufBigError(f"write error on {self.name}: {describe(err)}") from None

    def finish(self) -> None:
        """Write what is still held: a header of an empty output, held bytes, the compressor's tail."""
        if self.finished:
            return
        self.finished = True
        tail = [memoryview(self.preamble)]
        if self.held and self.held != self.trim:
            tail.append(memoryview(self.held))
        if self.encoder is not None:
            tail = [memoryview(self.encoder.compress(p)) for p in tail]
            tail.append(memoryview(self.encoder.flush()))
        self._write(tail)

    def commit(self) -> None:
        """Make the output visible by renaming it into place (as GNU tools, without fsync)."""
        self.finish()
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
        if self.fd >= 0 and self.path != "-":
            os.close(self.fd)
        self.fd = -1
        if self.temp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp_path)
            self.temp_path = None


class Encoder(Protocol):
    def compress(self, data: memoryview) -> bytes: ...
    def flush(self) -> bytes: ...


def zstandard_module() -> Any:
    """The ``zstandard`` package, or a one-line error that says how to install it."""
    try:
        import zstandard
    except ImportError:
        raise ShufBigError("zstd compression needs the 'zstandard' package: pip install 'shuf-big[zstd]'") from None
    return zstandard


def make_encoder(fmt: str) -> Encoder:
    """A streaming compressor for ``fmt`` (gzip at level 6, as the gzip command)."""
    if fmt == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 31)
    if fmt == "bz2":
        return bz2.BZ2Compressor(9)
    if fmt == "xz":
        return lzma.LZMACompressor(lzma.FORMAT_XZ)
    if fmt == "zstd":
        return zstandard_module().ZstdCompressor(level=3).compressobj()
    raise ShufBigError(f"unknown compression format '{fmt}'")


class TempDirs:
    """Private ``shuf-big-HOST-PID-*`` directories, one per ``-T`` location, removed on
    exit; ones left by a killed run on this host are removed by the next run."""

    def __init__(self, locations: list[str]) -> None:
        self.locations = locations
        self.paths: list[str] = []

    def create(self) -> list[str]:
        for where in self.locations:
            if not os.path.isdir(where):
                raise ShufBigError(f"cannot use temporary directory '{where}': No such directory")
            reap_stale(where, TEMP_PREFIX)
            try:
                with deferred_signals():
                    self.paths.append(tempfile.mkdtemp(prefix=TEMP_PREFIX + _owner_tag(), dir=where))
            except OSError as err:
                raise ShufBigError(f"cannot create temporary directory in '{where}': {describe(err)}") from None
        return self.paths

    def check_space(self, needed: int) -> None:
        """Fail early when the temp locations cannot hold ``needed`` bytes between them."""
        share = needed // max(len(self.locations), 1)
        for where in self.locations:
            free = shutil.disk_usage(where).free
            if free < share:
                raise ShufBigError(
                    f"not enough space in temporary directory '{where}': "
                    f"need about {format_size(share)}, {format_size(free)} free (use -T)"
                )

    def remove(self) -> None:
        for path in self.paths:
            shutil.rmtree(path, ignore_errors=True)
        self.paths = []


def default_temp_dirs() -> list[str]:
    return [os.environ.get("TMPDIR") or tempfile.gettempdir()]
