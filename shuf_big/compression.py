"""Compression formats: chosen by file name or ``--decompress``, read and written as streams."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from typing import Any, BinaryIO, Protocol

from .errors import ShufBigError, describe

# File name endings and the compression formats they stand for.
# File name endings and the compression formats they stand for.
EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz", ".zst": "zstd", ".zstd": "zstd"}


FORMATS = ("gzip", "bz2", "xz", "zstd")


def compression_of(path: str) -> str | None:
    """The compression format a file name asks for, by its extension (``None``: plain)."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


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


class Decompressed:
    """A raw reader that decompresses ``handle``; corrupt data becomes a one-line error."""

    def __init__(self, handle: BinaryIO, fmt: str, what: str) -> None:
        self.what = what
        self.fmt = fmt
        self.errors: tuple[type[BaseException], ...] = (EOFError, zlib.error, lzma.LZMAError, OSError)
        self.stream: io.BufferedIOBase
        if fmt == "gzip":
            self.stream = gzip.GzipFile(fileobj=handle, mode="rb")
        elif fmt == "bz2":
            self.stream = bz2.BZ2File(handle, mode="rb")
        elif fmt == "xz":
            self.stream = lzma.LZMAFile(handle, mode="rb")  # noqa: SIM115 (closed by close())
        elif fmt == "zstd":
            zstandard = zstandard_module()
            self.stream = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
            self.errors = (*self.errors, zstandard.ZstdError)
        else:
            raise ShufBigError(f"unknown compression format '{fmt}' (use one of: {', '.join(FORMATS)})")

    def readinto(self, view: memoryview) -> int:
        try:
            return self.stream.readinto(view) or 0
        except self.errors as err:
            reason = describe(err) if isinstance(err, OSError) and err.errno else str(err)
            raise ShufBigError(f"read error on {self.what}: not valid {self.fmt} data ({reason})") from None

    def close(self) -> None:
        self.stream.close()
