"""Readers the inputs are built from: a plain file that must deliver its size, file objects
given to the API and pipes, decompressed files (read ahead on a thread of their own), and
blank-line separated documents as records.  Each implements the whole reader protocol
(:class:`~shuf_big.files.protocol.Reader`)."""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import lzma
import os
import queue
import threading
import zlib
from collections.abc import Callable
from typing import IO, BinaryIO

import numpy as np

from shuf_big.errors import ShufBigError, describe
from shuf_big.files.compression import MAGIC_BYTES, check_format, isal_zlib, zstandard_module
from shuf_big.files.protocol import Mapper, OneInput, Reader
from shuf_big.files.records import pread_fully, read_fully

# Paragraph normalising and header splitting work in pieces this size: their int64
# temporaries (8 bytes per byte) stay a few MiB, outside the engine's buffers.
CHUNK = 1 << 16

# Decompressed input is read ahead by this many blocks of this size.
AHEAD_BLOCK = 1 << 20
AHEAD_DEPTH = 2
# A block is filled this much at a time: a codec that meets corrupt data drops what it
# decoded in that call (ISA-L's gzip reader decodes all it can before raising).
DECOMPRESS_PIECE = 1 << 16

# An input: a path ("-" is standard input) or a readable binary file object (the Python API).
Source = str | IO[bytes]


class Sized(OneInput):
    """A plain file that must deliver the ``size`` bytes it had when opened.

    A file truncated by another process meanwhile would otherwise just end early, and the
    run would succeed with part of the input.  Ending short is an error instead (a file
    that grows is read to its new end).
    """

    rewindable = True

    def __init__(self, handle: io.FileIO, size: int, what: str) -> None:
        self.handle = handle
        self.size = size
        self.what = what
        self.start = handle.tell()
        self.count = 0

    @property
    def disk_size(self) -> int:
        return self.size

    def consumed(self) -> int:
        return self.count

    def rewind(self) -> None:
        self.handle.seek(self.start)
        self.count = 0

    def readinto(self, view: memoryview) -> int:
        return self._counted(self.handle.readinto(view) or 0, view)

    def _counted(self, got: int, view: memoryview) -> int:
        """Count ``got`` bytes read into ``view``; nothing read before ``size`` is a shrink."""
        self.count += got
        if not got and len(view) and self.count < self.size:
            raise ShufBigError(
                f"{self.what} shrank while being read: {self.size} bytes at the start, only {self.count} read"
            )
        return got

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        """As :meth:`readinto`, in ``pieces`` positioned reads at once: several threads copy
        from the page cache and fault in the buffer's fresh pages in parallel."""
        fd = self.handle.fileno()
        start = self.handle.tell()
        ranges = list(itertools.pairwise([len(view) * i // pieces for i in range(pieces + 1)]))
        got = map_fn(lambda r: pread_fully(fd, view[r[0] : r[1]], start + r[0]), ranges)
        total = 0
        for (lo, hi), n in zip(ranges, got, strict=True):
            total += n
            if n < hi - lo:  # the end of the file: what follows a short piece does not count
                break
        self.handle.seek(start + total)
        return self._counted(total, view)


def name_of(source: Source) -> str:
    """How messages name an input."""
    if isinstance(source, str):
        return "standard input" if source == "-" else f"'{source}'"
    name = getattr(source, "name", None)
    return f"'{name}'" if isinstance(name, str) else "the file object"


class FileObject(OneInput):
    """A file read as it is, once, from where it stands: a file object given to the API
    (never closed), a pipe, a terminal.  Its size is not known in advance.

    io's classes fill the buffer themselves (``readinto``); any other object's ``read``
    is copied.  :meth:`peek` reads the first bytes (to sniff their compression), which
    are still handed out first.
    """

    disk_size = None

    def __init__(self, source: IO[bytes], what: str) -> None:
        self.source = source
        self.what = what
        self.fill: Callable[[memoryview], int | None] = (
            source.readinto if isinstance(source, (io.RawIOBase, io.BufferedIOBase)) else self._copy
        )
        self.pending = b""  # the bytes peeked at
        self.count = 0

    def peek(self, what: str) -> bytes:
        """The first bytes, read now (errors name the input ``what``) and handed out first."""
        head = np.empty(MAGIC_BYTES, dtype=np.uint8)
        got = read_fully(self, memoryview(head), what)
        self.pending = head[:got].tobytes()
        self.count = 0
        return self.pending

    def readinto(self, view: memoryview) -> int:
        if self.pending:
            n, self.pending = hand_out(self.pending, view)
        else:
            n = self.fill(view) or 0
        self.count += n
        return n

    def _copy(self, view: memoryview) -> int:
        data = self.source.read(len(view))
        view[: len(data)] = data
        return len(data)

    def consumed(self) -> int:
        return self.count


def hand_out(pending: bytes, view: memoryview) -> tuple[int, bytes]:
    """Copy the start of ``pending`` into ``view``: (bytes copied, what is left)."""
    n = min(len(view), len(pending))
    view[:n] = pending[:n]
    return n, pending[n:]


class Paragraphs:
    """Blank-line separated documents as records ending in exactly ``"\\n\\n"``.

    Leading newlines are dropped, every run of two or more newlines becomes one blank
    line, and the last document is closed, so ``"\\n\\n"`` frames the documents exactly.
    """

    def __init__(self, raw: Reader) -> None:
        self.raw = raw
        self.buffer = np.empty(CHUNK, dtype=np.uint8)
        self._start()

    def _start(self) -> None:
        self.run = 0  # newlines at the end of what was emitted so far
        self.started = False  # some document byte was emitted
        self.pending = b""
        self.done = False

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        return self.readinto(view)  # normalised as it is read

    def locate(self, index: int) -> tuple[str, int]:
        """Record ``index`` is document ``index + 1`` (not a line of the file)."""
        return self.raw.current_what, index + 1

    @property
    def rewindable(self) -> bool:
        return self.raw.rewindable

    def rewind(self) -> None:
        self.raw.rewind()
        self._start()

    def close(self) -> None:
        self.raw.close()

    @property
    def current_what(self) -> str:
        return self.raw.current_what

    @property
    def disk_size(self) -> int | None:
        return self.raw.disk_size

    def consumed(self) -> int:
        return self.raw.consumed()

    def readinto(self, view: memoryview) -> int:
        while True:
            if self.pending:
                n, self.pending = hand_out(self.pending, view)
                return n
            if self.done:
                return 0
            got = self.raw.readinto(memoryview(self.buffer)[: min(len(view), len(self.buffer))])
            if not got:
                self.done = True
                if self.started and self.run < 2:
                    self.pending = b"\n" * (2 - self.run)
                    self.run = 2
                continue
            kept = self._normalise(self.buffer[:got])
            if len(kept):
                view[: len(kept)] = memoryview(kept)
                return len(kept)

    def _normalise(self, chunk: np.ndarray) -> np.ndarray:
        newline = chunk == 10
        count = np.cumsum(newline, dtype=np.int64)
        # newlines since the last other byte, carrying the run from the previous chunk
        last_other = np.maximum.accumulate(np.where(newline, 0, count))
        in_run = count - last_other
        first_other = int(np.argmin(newline)) if not newline.all() else len(chunk)
        in_run[:first_other] += self.run
        keep = ~newline | (in_run <= 2)
        if not self.started:
            keep[:first_other] = False
        if first_other < len(chunk):
            self.started = True
        self.run = int(in_run[-1]) if newline[-1] else 0
        return chunk[keep]


def head_of(handle: io.FileIO) -> bytes:
    """The first bytes of a regular file from where it stands (to sniff compression), read
    in place: the file's position does not move."""
    try:
        return os.pread(handle.fileno(), MAGIC_BYTES, handle.tell())
    except OSError:
        return b""


class Decompressed(OneInput):
    """A reader that decompresses ``handle``; corrupt data becomes a one-line error.

    With ``ahead``, a thread of its own decompresses a few blocks ahead of the reader, so
    decompression overlaps with what the engine does with the bytes (framing, scattering).
    Only for regular files: a read from a stalled pipe could not be interrupted to close.
    ``size`` is the compressed bytes from the handle's position on, when known; a pipe
    cannot tell how many it consumed (0).
    """

    def __init__(self, handle: BinaryIO, fmt: str, what: str, ahead: bool = False, size: int | None = None) -> None:
        check_format(fmt)
        self.what = what
        self.fmt = fmt
        self.handle = handle
        self.disk_size = size
        try:
            self.start = handle.tell()
        except (OSError, ValueError):  # a pipe
            self.start = 0
        self.ahead: ReadAhead | None = None
        self.failed: ShufBigError | None = None  # raised on the read after the good bytes
        self.errors: tuple[type[BaseException], ...] = (EOFError, zlib.error, lzma.LZMAError, OSError)
        self.stream: io.BufferedIOBase
        if fmt == "gzip":
            isal = isal_zlib()
            if isal is not None:
                from isal import igzip

                self.stream = igzip.GzipFile(fileobj=handle, mode="rb")
                self.errors = (*self.errors, isal.error)
            else:
                self.stream = gzip.GzipFile(fileobj=handle, mode="rb")
        elif fmt == "bz2":
            self.stream = bz2.BZ2File(handle, mode="rb")
        elif fmt == "xz":
            self.stream = lzma.LZMAFile(handle, mode="rb")  # noqa: SIM115 (closed by close())
        else:
            zstandard = zstandard_module()
            self.stream = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
            self.errors = (*self.errors, zstandard.ZstdError)
        if ahead:
            self.ahead = ReadAhead(self._decompress, handle.tell)

    def consumed(self) -> int:
        """Where in the compressed file the bytes handed out so far end: with read-ahead,
        not the decompressing thread's position, which runs ahead by a varying amount
        (plans made from it would vary)."""
        if self.ahead is not None:
            return self.ahead.position - self.start
        try:
            return self.handle.tell() - self.start
        except (OSError, ValueError):  # a pipe
            return 0

    def readinto(self, view: memoryview) -> int:
        if self.ahead is not None:
            return self.ahead.readinto(view)
        return self._decompress(view)

    def _decompress(self, view: memoryview) -> int:
        """Fill ``view`` a piece at a time (``readinto1``), so that the records before
        corrupt data are handed out before its error (one large read would drop them)."""
        if self.failed is not None:
            raise self.failed
        got = 0
        try:
            while got < len(view):
                n = self.stream.readinto1(view[got : got + DECOMPRESS_PIECE])
                if not n:
                    break
                got += n
        except self.errors as err:
            reason = describe(err) if isinstance(err, OSError) and err.errno else str(err)
            self.failed = ShufBigError(f"read error on {self.what}: not valid {self.fmt} data ({reason})")
            if not got:
                raise self.failed from None
        return got

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.close()
        self.stream.close()


class ReadAhead:
    """Calls ``read`` on a thread of its own, up to :data:`AHEAD_DEPTH` blocks of
    :data:`AHEAD_BLOCK` bytes ahead of :meth:`readinto`; its errors are raised in order."""

    def __init__(self, read: Callable[[memoryview], int], where: Callable[[], int]) -> None:
        self.read = read
        self.where = where  # the compressed file's position
        self.position = where()  # ... where the blocks handed out so far end
        self.ready: queue.Queue[tuple[memoryview, int] | BaseException] = queue.Queue(AHEAD_DEPTH)
        self.pending = memoryview(b"")
        self.done = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="shuf-big-decompress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            block = bytearray(AHEAD_BLOCK)
            try:
                got = self.read(memoryview(block))
            except BaseException as err:  # handed to the reader, in order
                self._put(err)
                return
            self._put((memoryview(block)[:got], self.where()))
            if not got:
                return

    def _put(self, item: tuple[memoryview, int] | BaseException) -> None:
        while not self.stopping.is_set():
            try:
                self.ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readinto(self, view: memoryview) -> int:
        if not self.pending:
            if self.done:
                return 0
            item = self.ready.get()
            if isinstance(item, BaseException):
                self.done = True
                raise item
            block, self.position = item
            if not block:
                self.done = True
                return 0
            self.pending = block
        n = min(len(view), len(self.pending))
        view[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        """Stop the thread (it finishes the block it is decompressing) before the file closes."""
        self.stopping.set()
        self.thread.join()
        self.pending = memoryview(b"")
