"""Inputs and outputs in object storage as the engines see them: a reader over a
:class:`~shuf_big.storage.reading.RemoteFile` (decompressed by its name as a local file is),
and an :class:`~shuf_big.files.outputs.Output` whose bytes go to an upload, committed with
the run's other outputs."""

from __future__ import annotations

import io
from typing import BinaryIO, cast

from shuf_big.files.compression import DEFAULT_COMPRESSION, MAGIC_BYTES, Compression, compression_of, sniff
from shuf_big.files.outputs import Output
from shuf_big.files.protocol import OneInput, Reader
from shuf_big.files.readers import Decompressed
from shuf_big.storage.reading import RemoteFile
from shuf_big.storage.store import Store
from shuf_big.storage.writing import S3Upload, StagedUpload


class RemoteInput(OneInput):
    """A plain object read ahead; rewinding fetches it again."""

    rewindable = True

    def __init__(self, handle: RemoteFile, what: str) -> None:
        self.handle = handle
        self.what = what

    @property
    def disk_size(self) -> int | None:
        return self.handle.size

    def consumed(self) -> int:
        return self.handle.tell()

    def readinto(self, view: memoryview) -> int:
        return self.handle.readinto(view)

    def rewind(self) -> None:
        self.handle.rewind()


def open_remote(url: str, decompress: str | None, store: Store) -> tuple[Reader, RemoteFile, str, str | None]:
    """Open input ``url``: (reader, the remote file to close, its name for messages, the
    compression its first bytes look like when it is read as it is)."""
    what = f"'{url}'"
    handle = store.open(url)
    fmt = decompress or compression_of(url)
    if fmt is not None:
        stream = cast(BinaryIO, io.BufferedReader(handle, 1 << 16))
        return Decompressed(stream, fmt, what, ahead=True, size=handle.size), handle, what, None
    reader = RemoteInput(handle, what)
    return reader, handle, what, sniff(handle.peek(MAGIC_BYTES))


class RemoteOutput(Output):
    """``-o URL`` (or one shard of a pattern): written to an upload that appears only at
    :meth:`commit`; ``expected`` bytes, when known, set the upload's part size."""

    def __init__(
        self,
        url: str,
        store: Store,
        compress: str | None = None,
        trim: bytes = b"",
        settings: Compression = DEFAULT_COMPRESSION,
        expected: int | None = None,
        **kwargs: object,
    ) -> None:
        self.upload: S3Upload | StagedUpload | None = None
        self.store = store
        self.expected = expected
        super().__init__(io.BytesIO(), compress, trim=trim, settings=settings, **kwargs)  # type: ignore[arg-type]
        self.path = url
        self.name = f"'{url}'"

    def open(self) -> None:
        if self.upload is None:
            self.upload = self.store.upload(self.path, self.expected)
            self.stream = self.upload  # type: ignore[assignment]

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        super().expect(nrecords, nbytes)
        if nbytes is not None:  # the real count, where ``expected`` was a guess or unknown
            self.expected = nbytes + len(self.preamble)
            if self.upload is not None:
                self.upload.expect(self.expected)

    def finish(self) -> None:
        """Every byte written and sent (nothing visible yet): all shards are up before the
        first is committed."""
        self.open()
        super().finish()
        if self.blocks is not None:
            self.blocks.pipeline.drain()
        assert self.upload is not None
        self.upload.close()

    def commit(self) -> None:
        self.finish()
        assert self.upload is not None
        self.upload.commit()

    def discard(self) -> None:
        super().discard()
        if self.upload is not None:
            self.upload.discard()
