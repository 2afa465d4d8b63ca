"""Parts of one output that several processes write at once, so that no byte is copied
again to assemble it: a byte range of a file every writer can open (the Dask engine's
reduce tasks on the driver's host), or one part of an S3 multipart upload that the driver
starts and completes (or aborts: nothing is visible until then).

A task that Dask reruns after losing a worker writes the same bytes to the same range or
part number again, which replaces them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from shuf_big.errors import ShufBigError, describe
from shuf_big.storage.failures import remote_errors
from shuf_big.storage.urls import StorageOptions, filesystem
from shuf_big.system.descriptors import write_all

# A part is spooled to a local file past this many bytes (a part may be far larger
# than a task's memory: 10,000 parts at most make one object).
SPOOL_IN_MEMORY = 8 << 20


@dataclass
class FileRange:
    """Bytes ``[offset, offset + size)`` of the existing file ``path``, written in place
    (``what`` names the output in messages)."""

    path: str
    offset: int
    size: int
    what: str
    preamble: bytes = b""  # ShardedOutput's header slot: the driver writes the header itself
    written: int = 0
    fd: int = -1

    def open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY)
        except OSError as err:
            raise ShufBigError(f"cannot open {self.what} for writing: {describe(err)}") from None

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        """The range is fixed by the driver: nothing to plan."""

    def write(self, parts: list[memoryview]) -> int:
        if self.fd < 0:
            self.open()
        try:
            size = write_all(self.fd, parts, self.offset + self.written)
        except OSError as err:
            raise ShufBigError(f"write error on {self.what}: {describe(err)}") from None
        self.written += size
        return size

    def finish(self) -> None:
        if self.fd < 0:
            self.open()
        os.close(self.fd)
        self.fd = -1
        if self.written != self.size:
            raise ShufBigError(f"temporary files are corrupt ({self.written} bytes for a range of {self.size})")

    def commit(self) -> None:
        self.finish()

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _s3_target(url: str, options: StorageOptions) -> tuple[Any, str, str]:
    """The s3fs filesystem of ``url``, its bucket and key."""
    fs, path = filesystem(url, options)
    bucket, key, _ = fs.split_path(path)
    return fs, bucket, key


@dataclass
class UploadPart:
    """Part ``number`` of the multipart upload ``upload_id`` of ``url``, spooled while
    written and sent when finished; :meth:`result` is what the completion lists."""

    url: str
    upload_id: str
    number: int
    options: StorageOptions = field(default_factory=StorageOptions)
    preamble: bytes = b""  # written first (the header, in part 1)
    written: int = 0
    etag: str = ""
    spool: IO[bytes] | None = None

    def open(self) -> None:
        self.spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 (closed at finish)
        if self.preamble:
            self.write([memoryview(self.preamble)])

    def expect(self, nrecords: int, nbytes: int | None = None) -> None:
        """A part is sent whole: its size plans nothing."""

    def write(self, parts: list[memoryview]) -> int:
        if self.spool is None:
            self.open()
        assert self.spool is not None
        size = 0
        try:
            for part in parts:
                self.spool.write(part)
                size += len(part)
        except OSError as err:
            raise ShufBigError(f"cannot spool part {self.number} of '{self.url}': {describe(err)}") from None
        self.written += size
        return size

    def finish(self) -> None:
        if self.spool is None:
            self.open()
        assert self.spool is not None
        fs, bucket, key = _s3_target(self.url, self.options)
        self.spool.seek(0)
        with remote_errors(f"cannot write '{self.url}'"):
            out = fs.call_s3(
                "upload_part", Bucket=bucket, Key=key, UploadId=self.upload_id, PartNumber=self.number, Body=self.spool
            )
        self.etag = out["ETag"]
        self.discard()

    def commit(self) -> None:
        if not self.etag:
            self.finish()

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def result(self) -> dict[str, Any]:
        return {"PartNumber": self.number, "ETag": self.etag}


class SharedUpload:
    """A multipart upload of ``url`` whose parts other processes send (:class:`UploadPart`):
    started here, completed once every part is up, else aborted."""

    def __init__(self, url: str, options: StorageOptions) -> None:
        self.url = url
        self.options = options
        self.fs, self.bucket, self.key = _s3_target(url, options)
        self.upload_id: str | None = None

    def _call(self, method: str, **kwargs: Any) -> Any:
        with remote_errors(f"cannot write '{self.url}'"):
            return self.fs.call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)

    def start(self) -> str:
        self.upload_id = str(self._call("create_multipart_upload")["UploadId"])
        return self.upload_id

    def part(self, number: int, preamble: bytes = b"") -> UploadPart:
        assert self.upload_id is not None
        return UploadPart(self.url, self.upload_id, number, self.options, preamble)

    def complete(self, parts: list[dict[str, Any]], empty: bytes = b"") -> None:
        """Make the object from ``parts`` (none: the object is ``empty``, one PUT)."""
        if not parts:
            self.abort()
            self._call("put_object", Body=empty)
            return
        self._call("complete_multipart_upload", UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self.upload_id = None

    def abort(self) -> None:
        upload_id, self.upload_id = self.upload_id, None
        if upload_id is not None:
            with contextlib.suppress(ShufBigError):  # gone already; a lifecycle rule cleans up the rest
                self._call("abort_multipart_upload", UploadId=upload_id)
