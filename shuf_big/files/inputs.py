"""Inputs: one or many files (plain or compressed) read as a single stream of records.

The engine sees one byte stream.  This module makes several inputs look like one: it
opens them one at a time (so ``--files-from`` with thousands of shards needs one file
descriptor), decompresses ``.gz``/``.bz2``/``.xz``/``.zst``, turns blank-line separated
documents into records, takes the header lines off every input (checking that they agree,
see :mod:`shuf_big.files.headers`), and terminates the last record of every input so records
never run together.  It counts records as they pass, so that a message can say which input
and which line a record or a read error is at.
"""

from __future__ import annotations

import bisect
import io
import os
import stat
import sys
import warnings
from collections.abc import Sequence
from typing import BinaryIO, cast

import numpy as np

from shuf_big import core
from shuf_big.errors import CompressedInputWarning, ShufBigError, describe
from shuf_big.files.compression import check_format, compression_of, sniff
from shuf_big.files.headers import Headers, split_header
from shuf_big.files.protocol import Mapper, Reader
from shuf_big.files.readers import Decompressed, FileObject, Paragraphs, Sized, Source, hand_out, head_of, name_of
from shuf_big.files.remote import open_remote
from shuf_big.storage.store import Store
from shuf_big.storage.urls import is_url

NEWLINE = b"\n"


def _open_path(
    path: Source, decompress: str | None, store: Store | None = None
) -> tuple[Reader, io.RawIOBase | None, str, str | None]:
    """Open one input: (reader, underlying handle, name for messages, the compression
    format its first bytes look like when it is not being decompressed)."""
    if is_url(path):
        return open_remote(cast(str, path), decompress, store or Store())
    if not isinstance(path, str):
        what = name_of(path)
        if decompress is not None:
            return Decompressed(cast(BinaryIO, path), decompress, what), None, what, None
        given = FileObject(path, what)
        return given, None, what, sniff(given.peek(what))
    if path == "-":
        handle: io.FileIO = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
        what = "standard input"
        fmt = decompress
    else:
        what = f"'{path}'"
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the caller)
        except OSError as err:
            raise ShufBigError(f"cannot open '{path}': {describe(err)}") from None
        fmt = decompress or compression_of(path)
    st = os.fstat(handle.fileno())
    if stat.S_ISDIR(st.st_mode):
        handle.close()
        raise ShufBigError(f"cannot read '{path}': Is a directory")
    regular = stat.S_ISREG(st.st_mode)
    if fmt is not None:
        size = max(st.st_size - handle.tell(), 0) if regular else None
        return Decompressed(handle, fmt, what, ahead=regular, size=size), handle, what, None
    if regular:
        looks = sniff(head_of(handle))
        try:
            return Sized(handle, st.st_size - handle.tell(), what), handle, what, looks
        except OSError:
            return FileObject(handle, what), handle, what, looks
    stream = FileObject(handle, what)
    if handle.isatty():
        return stream, handle, what, None  # typed lines: do not wait for ten bytes
    head = stream.peek("standard input" if handle.fileno() == 0 else "input")
    return stream, handle, what, sniff(head)


def stdin_offset() -> int | None:
    """Where standard input is now, when it is a regular file (one it can be read again from)."""
    try:
        if not stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode):
            return None
        return os.lseek(sys.stdin.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError):
        return None


def size_on_disk(
    paths: Sequence[object], stdin_start: int | None, compressed: bool = True, store: Store | None = None
) -> int | None:
    """The bytes the inputs ``paths`` hold on disk (or in their store) if every one is a
    regular file or an object, else None: standard input's from ``stdin_start`` (None: not a
    regular file), no file object's, and with ``compressed=False`` no compressed file's
    (their size says little of their content)."""
    total = 0
    for path in paths:
        if not isinstance(path, str) or (path == "-" and stdin_start is None):
            return None
        if not compressed and path != "-" and compression_of(path):
            return None
        if is_url(path):
            size = (store or Store()).size(path)
            if size is None:
                return None
            total += size
            continue
        try:
            st = os.fstat(sys.stdin.fileno()) if path == "-" else os.stat(path)
        except (OSError, ValueError):
            return None  # opening it will report why
        if not stat.S_ISREG(st.st_mode):
            return None
        start = stdin_start if path == "-" and stdin_start is not None else 0
        total += max(st.st_size - start, 0)
    return total


def check_stdin_once(paths: Sequence[Source]) -> None:
    """Standard input can be read once: refuse ``-`` named twice among the inputs."""
    if list(paths).count("-") > 1:
        raise ShufBigError("standard input ('-') can be read only once")


class Inputs:
    """Several inputs read one after another as one raw stream of records.

    ``size`` is an upper bound of the stream's length when every input is a plain regular
    file (header lines removed make it shorter), else ``None``.  ``header`` holds the first
    ``header_lines`` records of the first input that has that many once :meth:`prime` has
    run; every other input must start with them.  ``origins`` say where each input was
    listed (``LIST:LINE`` of ``--files-from``), for messages.
    """

    def __init__(
        self,
        paths: Sequence[Source],
        sep: bytes,
        header_lines: int = 0,
        decompress: str | None = None,
        paragraphs: bool = False,
        origins: Sequence[str] = (),
        store: Store | None = None,
    ) -> None:
        check_stdin_once(paths)
        self.store = store
        if decompress is not None:
            check_format(decompress)
        self.paths = list(paths)
        self.sep = sep  # paragraph mode: the normalised documents' b"\n\n"
        self.header_lines = header_lines
        self.decompress = decompress
        self.paragraphs = paragraphs
        self.what = name_of(paths[0]) if len(paths) == 1 else "the inputs"
        self.origins = list(origins)
        self.headers = Headers(header_lines, sep)
        self.warned: set[int] = set()  # inputs already warned about (a rewind reopens them)
        self.stdin_start = stdin_offset() if "-" in paths and decompress is None else None
        on_disk = all(isinstance(p, str) for p in paths)  # a file object is read once
        self.rewindable = on_disk and ("-" not in paths or self.stdin_start is not None)
        self.size = self._size_bound()
        # The inputs' bytes on disk (compressed ones compressed), if all are files: the
        # progress bar's total, against which consumed() advances.
        self.disk_size = size_on_disk(self.paths, self.stdin_start, store=self.store)
        self._reset()

    def _size_bound(self) -> int | None:
        if self.paragraphs or self.decompress is not None:
            return None
        total = size_on_disk(self.paths, self.stdin_start, compressed=False, store=self.store)
        return None if total is None else total + (len(self.paths) - 1) * len(self.sep)  # terminators between inputs

    def consumed(self) -> int:
        """Bytes of the inputs read from disk so far (compressed bytes for compressed ones)."""
        if self.current is None:
            return self.finished_bytes
        return self.finished_bytes + self.current.consumed()

    def _reset(self) -> None:
        self.finished_bytes = 0  # on disk, of the inputs read to their end
        self.next_path = 0
        self.current: Reader | None = None
        self.handle: io.RawIOBase | None = None
        self.current_what = self.what
        self.pending = b""
        self.tail = core.StreamFramer(self.sep)
        # Records counted as they pass (cheaply: see _feed), to say where a record or an
        # error is: records ended so far, and where each opened input's records start.
        self.counted = 0
        self.firsts: list[int] = []
        self.head_records = 0  # header records read from the current input

    @property
    def header(self) -> bytes:
        return self.headers.header

    def prime(self) -> None:
        """Open the first input, and with ``--header`` as many as it takes to find the
        header (an input with fewer records holds nothing else), so that the header is
        known before any output is written."""
        if self.current is not None or self.next_path != 0:
            return
        self._open_next()
        while self.header_lines and not self.headers.complete and self.next_path < len(self.paths):
            self._close_current()
            self._open_next()

    def _open_next(self) -> bool:
        if self.next_path >= len(self.paths):
            return False
        path = self.paths[self.next_path]
        self.next_path += 1
        self.firsts.append(self.counted)
        self.head_records = 0
        try:
            reader, self.handle, self.current_what, looks = _open_path(path, self.decompress, self.store)
        except ShufBigError as err:
            raise ShufBigError(self._listed(str(err))) from None
        if looks is not None and self.next_path not in self.warned:
            self.warned.add(self.next_path)
            warnings.warn(
                f"{self.current_what} looks {looks}-compressed but is read as it is: "
                f"to shuffle its content, use --decompress {looks}",
                CompressedInputWarning,
                stacklevel=2,
            )
        self.current = Paragraphs(reader) if self.paragraphs else reader
        self.tail = core.StreamFramer(self.sep)
        if self.header_lines:
            head, self.pending, _ = split_header(self._read_current, self.sep, self.header_lines)
            self.head_records = self.header_lines
            self._feed(np.frombuffer(self.pending, dtype=np.uint8))
            try:
                self.headers.offer(head, self.current_what)
            except ShufBigError as err:
                raise ShufBigError(self._listed(str(err))) from None
        return True

    def _feed(self, chunk: np.ndarray) -> None:
        """Count the records that end in ``chunk`` of the current input (with one input and
        a one-byte separator, in windows without an offsets array); with several inputs,
        keep the framing state that terminates its last record at the seam."""
        if len(self.paths) > 1:
            self.counted += len(self.tail.feed(chunk))
        elif len(self.sep) == 1:
            self.counted += core.count_records(chunk, self.sep)

    def locate(self, index: int) -> tuple[str, int]:
        """The input that holds record ``index`` of the stream (from 0, headers left out),
        and that record's number in it from 1, header records counted: for newline-ended
        records, its line number in the (decompressed) file."""
        if len(self.paths) == 1:
            return self.what, self.header_lines + index + 1
        at = max(bisect.bisect_right(self.firsts, index) - 1, 0)
        return name_of(self.paths[at]), self.header_lines + index - self.firsts[at] + 1

    def _listed(self, message: str) -> str:
        """``message`` about the current input, after its ``--files-from`` line if it has one."""
        return f"{self.origins[self.next_path - 1]}: {message}" if self.origins else message

    def _failed(self, message: str) -> ShufBigError:
        """A read error of the current input, saying where: its ``--files-from`` line, and
        the last whole record read when they are counted."""
        if len(self.paths) > 1 or len(self.sep) == 1:
            done = self.head_records + self.counted - self.firsts[-1]
            if done:
                message += f", after {'line' if self.sep == NEWLINE else 'record'} {done}"
        return ShufBigError(self._listed(message))

    def _read_current(self, view: memoryview) -> int:
        assert self.current is not None
        try:
            return self.current.readinto(view) or 0
        except OSError as err:
            raise self._failed(f"read error on {self.current_what}: {describe(err)}") from None
        except ShufBigError as err:  # corrupt compressed data, a file that shrank
            raise self._failed(str(err)) from None

    def _close_current(self) -> None:
        assert self.current is not None
        self.finished_bytes = self.consumed()
        self.current.close()
        if self.handle is not None:
            self.handle.close()  # standard input's wrapper was opened with closefd=False
        self.current = None
        self.handle = None

    def readinto(self, view: memoryview) -> int:
        while True:
            if self.pending:
                n, self.pending = hand_out(self.pending, view)
                return n
            if self.current is None:
                if not self._open_next():
                    return 0
                continue
            got = self._read_current(view)
            if got:
                self._feed(np.frombuffer(view[:got], dtype=np.uint8))
                return got
            self.pending = self.tail.terminator() if len(self.paths) > 1 else b""
            self.counted += bool(self.pending)
            self._close_current()

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        """As :meth:`readinto`, reading a plain file in ``pieces`` at once (see :class:`Sized`)."""
        if self.pending or self.current is None:
            return self.readinto(view)
        try:
            got = self.current.readinto_parallel(view, pieces, map_fn)
        except OSError as err:
            raise self._failed(f"read error on {self.current_what}: {describe(err)}") from None
        except ShufBigError as err:
            raise self._failed(str(err)) from None
        if not got:
            return self.readinto(view)  # this input's end: a terminator, the next input
        self._feed(np.frombuffer(view[:got], dtype=np.uint8))
        return got

    def rewind(self) -> None:
        """Start again from the first input (not when one is a pipe or a file object)."""
        if not self.rewindable:
            what = "standard input" if "-" in self.paths else "the file object"
            raise ShufBigError(f"cannot read {what} twice")
        self.close()
        if self.stdin_start is not None:
            os.lseek(sys.stdin.fileno(), self.stdin_start, os.SEEK_SET)
        self._reset()

    def close(self) -> None:
        if self.current is not None:
            self._close_current()


def count_in(inputs: Inputs, buffer_size: int) -> int:
    """Count the records of ``inputs`` (header excluded) in one streaming pass, then rewind."""
    buffer = np.empty(buffer_size, dtype=np.uint8)
    framer = core.StreamFramer(inputs.sep)
    single = len(inputs.sep) == 1
    count = 0
    open_record = False
    while got := inputs.readinto(memoryview(buffer)):
        if single:  # counted in windows: no offsets array, whatever the line length
            count += core.count_records(buffer[:got], inputs.sep)
            open_record = bool(buffer[got - 1] != inputs.sep[0])
        else:
            count += len(framer.feed(buffer[:got]))
            open_record = bool(framer.terminator())
    count += open_record
    inputs.rewind()
    return count
