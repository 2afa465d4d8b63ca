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

# How many first bytes :func:`sniff` looks at.
MAGIC_BYTES = 10
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
)
# bzip2: "BZh" and a block size digit, then a block's or the end-of-stream's magic.
_BZIP2_AFTER = (b"1AY&SY", b"\x17rE8P\x90")


def sniff(head: bytes) -> str | None:
    """The compression format whose magic bytes ``head`` starts with, if any.

    Used only to warn: an input is decompressed by its name or ``--decompress``, never by
    guessing from its content (as GNU tools).
    """
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if len(head) >= 10 and head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0":
        return "bz2" if head[4:10] in _BZIP2_AFTER else None
    return None


def compression_of(path: str) -> str | None:
    """The compression format a file name asks for, by its extension (``None``: plain)."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


class Encoder(Protocol):
    def compress(self, data: memoryview) -> bytes: ...
    def flush(self) -> bytes: ...


# Works from a clone (the package directory) as well as from a package index.
ZSTD_INSTALL = "pip install 'shuf-big[zstd]' (from a clone: pip install '.[zstd]')"


def zstandard_module(action: str = "decompression") -> Any:
    """The ``zstandard`` package, or a one-line error that says how to install it."""
    try:
        import zstandard
    except ImportError:
        raise ShufBigError(f"zstd {action} needs the 'zstandard' package: {ZSTD_INSTALL}") from None
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
        return zstandard_module("compression").ZstdCompressor(level=3).compressobj()
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
