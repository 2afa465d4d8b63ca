"""Compressed temp files: a run of independent zstd frames, appended as a bucket grows.

Each write of a bucket's share of a batch is one frame, compressed on the worker that
scattered the batch, so a bucket file is frames one after another; one streaming decoder
reads across them into the caller's buffer.  zstd level 1 keeps 0.42x of the sentences
corpus at about 150-200 MB/s a core and decodes at 500-800 MB/s (DESIGN-NOTES §8); the
format is internal to a run.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from shuf_big.errors import ShufBigError

LEVEL = 1
READ_SIZE = 128 << 10  # compressed bytes a decoder reads at a time (zstd's own advice)

_contexts = threading.local()  # a compressor per thread: one is not safe on several


def compress(data: memoryview) -> memoryview:
    """``data`` as one zstd frame (its size recorded in the frame)."""
    compressor = getattr(_contexts, "compressor", None)  # made on first use in each thread
    if compressor is None:
        import zstandard

        compressor = _contexts.compressor = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True)
    return memoryview(compressor.compress(data))


def decompress(frame: memoryview, what: str) -> bytes:
    """The bytes of one whole frame (its size is in its header)."""
    import zstandard

    decompressor = getattr(_contexts, "decompressor", None)
    if decompressor is None:
        decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
    try:
        data: bytes = decompressor.decompress(frame)
    except zstandard.ZstdError as err:
        raise ShufBigError(f"{what} is corrupt: {err}") from None
    return data


class _Range:
    """``read`` of bytes ``[at, end)`` of descriptor ``fd`` by positioned reads, so that
    decoders on several threads share one file."""

    def __init__(self, fd: int, at: int, end: int) -> None:
        self.fd, self.at, self.end = fd, at, end

    def read(self, n: int = -1) -> bytes:
        n = self.end - self.at if n < 0 else min(n, self.end - self.at)
        data = os.pread(self.fd, n, self.at) if n > 0 else b""
        self.at += len(data)
        return data


class Unpacked:
    """The bytes of the frames in bytes ``[at, end)`` of descriptor ``fd`` (all of it by
    default): ``readinto`` fills a buffer straight from the decoder.  The descriptor stays
    open; any thread may read its own range."""

    def __init__(self, fd: int, what: str, at: int = 0, end: int | None = None) -> None:
        import zstandard

        self.what = what
        self.errors: type[Exception] = zstandard.ZstdError
        source: Any = _Range(fd, at, os.fstat(fd).st_size if end is None else end)  # read() is all it asks of it
        self.reader: Any = zstandard.ZstdDecompressor().stream_reader(
            source, read_size=READ_SIZE, read_across_frames=True
        )

    def readinto(self, view: memoryview) -> int:
        try:
            got: int = self.reader.readinto(view)
        except self.errors as err:
            raise ShufBigError(f"{self.what} is corrupt: {err}") from None
        return got

    def close(self) -> None:
        self.reader.close()
