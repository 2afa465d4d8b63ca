"""Whole objects as the Dask engine's tasks use them: opened for reading (from a byte
offset on), and written under a temporary name that is renamed into place when done."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Callable
from typing import Any

from shuf_big.errors import ShufBigError, describe
from shuf_big.storage.urls import StorageOptions, filesystem

# Anything with a compressor's ``compress``/``flush`` (a files.compression Codec's encoder).
Encoder = Any


class AtomicFile:
    """A file at ``url`` written under a temporary name and renamed into place when done.

    A rerun of the same task (Dask retries tasks of a lost worker) writes its own
    temporary name, so two attempts never mix and readers only ever see whole files.
    """

    def __init__(self, url: str, options: StorageOptions, encoding: Callable[[], Encoder] | None = None) -> None:
        self.url = url
        self.options = options
        self.temp = ""
        self.encoding = encoding  # makes the compressor, in the process that writes
        self.encoder: Encoder | None = None
        self.handle: io.BufferedIOBase | None = None
        self.preamble = b""  # written first (what ShardedOutput calls the header)
        self.written = 0  # bytes before compression, the preamble included (as Output counts)

    def _name(self) -> None:
        """Pick the temporary name (in the process that writes: a rerun picks its own)."""
        if not self.temp:
            self.fs, self.path = filesystem(self.url, self.options)
            self.temp = f"{self.path}.{secrets.token_hex(6)}.part"

    def open(self) -> None:
        self._name()
        self.encoder = self.encoding() if self.encoding is not None else None
        try:
            self.handle = self.fs.open(self.temp, "wb")
        except OSError as err:
            raise ShufBigError(f"cannot open '{self.url}' for writing: {describe(err)}") from None
        if self.preamble:
            self.write([memoryview(self.preamble)])

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        """A piece is written through the filesystem's own file: its size plans nothing."""

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
        self.written += size
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
        if self.temp:
            with contextlib.suppress(Exception):
                self.fs.rm(self.temp)


def open_object(url: str, what: str, options: StorageOptions, ranges: bool = False) -> io.BufferedIOBase:
    """Open ``url`` for reading; a missing or unreadable file is a one-line error.  For
    ``ranges`` (reads of scattered byte ranges) nothing is read ahead: on object storage
    each read is one request for just its bytes."""
    fs, path = filesystem(url, options)
    try:
        if getattr(fs, "protocol", None) in ("memory", ("memory",)):
            # memory:// hands every reader the one stored file object, whose position
            # concurrent tasks would share: read from a private copy instead.
            return io.BytesIO(fs.cat_file(path))
        return fs.open(path, "rb", cache_type="none") if ranges else fs.open(path, "rb")
    except FileNotFoundError:
        raise ShufBigError(f"cannot open {what}: No such file or directory") from None
    except OSError as err:
        raise ShufBigError(f"cannot open {what}: {describe(err)}") from None


class Limited:
    """A raw reader of the next ``remaining`` bytes of ``handle``; ending short is an error."""

    def __init__(self, handle: io.BufferedIOBase, remaining: int, what: str) -> None:
        self.handle = handle
        self.remaining = remaining
        self.what = what

    def readinto(self, view: memoryview) -> int:
        if self.remaining <= 0:
            return 0
        got = self.handle.readinto(view[: self.remaining]) or 0
        if not got:
            raise ShufBigError(f"{self.what} shrank while being read")
        self.remaining -= got
        return got
