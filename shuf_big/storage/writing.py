"""Uploads that appear only when committed, on stores that have no rename.

S3 (and its clones): a multipart upload of our own, through s3fs's client, whose parts go
up ``parallel`` at once while the engine goes on; the object appears only when
:meth:`S3Upload.commit` completes the upload, and :meth:`S3Upload.discard` aborts it, so a
failed run leaves no object and no incomplete upload (s3fs's own file would complete the
upload when an exception leaves ``with fs.open(...)``: fsspec/s3fs#154).

Any other store: the output is staged in a nameless local temp file (nothing is left if the
process is killed) and handed to the filesystem's own ``put_file`` at commit: one request or
one Hub commit per file, made only once the whole run succeeded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from shuf_big.errors import ShufBigError
from shuf_big.storage.failures import remote_errors
from shuf_big.storage.urls import S3_PROTOCOLS, protocol_of

MIN_PART = 5 << 20  # S3's smallest part but the last
MAX_PARTS = 10_000
# Parts are planned for this many of the 10,000 (the expected size may be low); past it,
# each further thousand parts doubles the part size, so no object runs out of parts.
PLANNED_PARTS = 9_000


class Upload(Protocol):
    """An object being written: invisible until :meth:`commit`, gone after :meth:`discard`."""

    url: str
    sent: int  # bytes handed to the store so far (progress)

    def write(self, data: memoryview) -> None: ...
    def expect(self, nbytes: int) -> None: ...
    def close(self) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class Transfers:
    """The uploads of a run share ``parallel`` slots: at most that many parts are in flight
    (each ``part`` bytes, and one being filled), which is what the plan reserves for them."""

    def __init__(self, part: int, parallel: int) -> None:
        self.part = max(part, MIN_PART)
        self.parallel = max(parallel, 1)
        self.slots = threading.BoundedSemaphore(self.parallel)
        self.pool: ThreadPoolExecutor | None = None

    def submit(self, send: Any, *args: Any) -> Future[Any]:
        self.slots.acquire()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="shuf-big-upload")
        try:
            future = self.pool.submit(send, *args)
        except BaseException:
            self.slots.release()
            raise
        future.add_done_callback(lambda _: self.slots.release())
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def part_size(base: int, expected: int | None, number: int) -> int:
    """The size of part ``number`` (from 1): ``base``, or more where ``expected`` bytes need
    it to fit in :data:`PLANNED_PARTS`; doubled every thousand parts past those."""
    size = max(base, MIN_PART, -(-(expected or 0) // PLANNED_PARTS))
    over = max(number - PLANNED_PARTS, 0)
    return size << -(-over // 1000) if over else size


class S3Upload:
    """A multipart upload of ``path`` on the s3fs filesystem ``fs``, started at the first full
    part (an object smaller than a part is one PUT at commit)."""

    def __init__(self, fs: Any, path: str, url: str, transfers: Transfers, expected: int | None = None) -> None:
        self.fs = fs
        self.url = url
        self.bucket, self.key, _ = fs.split_path(path)
        self.transfers = transfers
        self.expected = expected
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[Future[dict[str, Any]]] = []
        self.sent = 0
        self.counting = threading.Lock()  # parts finish on several threads
        self.done = False

    def _call(self, method: str, **kwargs: Any) -> Any:
        with remote_errors(f"cannot write '{self.url}'"):
            return self.fs.call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)

    def expect(self, nbytes: int) -> None:
        """The object's size, now known: the parts not yet sent are sized for it."""
        self.expected = nbytes

    def write(self, data: memoryview) -> None:
        self.buffer += data
        while len(self.buffer) >= part_size(self.transfers.part, self.expected, len(self.parts) + 1):
            self._send(part_size(self.transfers.part, self.expected, len(self.parts) + 1))

    def _send(self, size: int) -> None:
        if self.upload_id is None:
            self.upload_id = self._call("create_multipart_upload")["UploadId"]
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise ShufBigError(f"cannot write '{self.url}': more than {MAX_PARTS} parts")
        with memoryview(self.buffer) as view:
            body = bytes(view[:size])  # one copy (a slice of the bytearray would be a second)
        del self.buffer[:size]
        self.parts.append(self.transfers.submit(self._part, number, body))

    def _part(self, number: int, body: bytes) -> dict[str, Any]:
        out = self._call("upload_part", UploadId=self.upload_id, PartNumber=number, Body=body)
        with self.counting:
            self.sent += len(body)
        return {"PartNumber": number, "ETag": out["ETag"]}

    def close(self) -> None:
        """Send the last part and wait for every part: all is up, nothing visible yet."""
        if self.upload_id is not None and self.buffer:
            self._send(len(self.buffer))
        for part in self.parts:
            part.result()

    def commit(self) -> None:
        self.close()
        if self.upload_id is None:
            self._call("put_object", Body=bytes(self.buffer))
            self.sent += len(self.buffer)
        else:
            parts = [part.result() for part in self.parts]
            self._call("complete_multipart_upload", UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self.done = True
        self.buffer = bytearray()

    def discard(self) -> None:
        """Abort the upload (its parts in flight are waited for first: an abort before a
        part lands would leave that part behind)."""
        self.buffer = bytearray()
        if self.upload_id is None or self.done:
            return
        for part in self.parts:
            part.exception()  # wait, whatever it gave
        upload_id, self.upload_id = self.upload_id, None
        with contextlib.suppress(ShufBigError):  # gone already; a lifecycle rule cleans up the rest
            self._call("abort_multipart_upload", UploadId=upload_id)


class StagedUpload:
    """``path`` on ``fs`` written to a nameless temp file in ``folder``, put at commit."""

    def __init__(self, fs: Any, path: str, url: str, folder: str) -> None:
        self.fs = fs
        self.path = path
        self.url = url
        self.sent = 0
        try:
            self.file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed by commit/discard)
        except OSError as err:
            raise ShufBigError(f"cannot stage '{url}' in '{folder}': {err.strerror}") from None

    def write(self, data: memoryview) -> None:
        try:
            self.file.write(data)
        except OSError as err:
            raise ShufBigError(f"write error on the staged copy of '{self.url}': {err.strerror}") from None

    def expect(self, nbytes: int) -> None:
        """A staged file is put whole, by the store's own upload: its size plans nothing."""

    def close(self) -> None:
        self.file.flush()

    def commit(self) -> None:
        self.close()
        with remote_errors(f"cannot write '{self.url}'"):
            # The store's own upload of the whole file; /proc/self/fd names the nameless file.
            self.fs.put_file(f"/proc/self/fd/{self.file.fileno()}", self.path)
        self.sent = os.fstat(self.file.fileno()).st_size
        self.file.close()

    def discard(self) -> None:
        self.file.close()


def open_upload(
    fs: Any, path: str, url: str, transfers: Transfers, folder: str, expected: int | None = None
) -> S3Upload | StagedUpload:
    """The upload for ``url``: a multipart upload on S3, else a staged file."""
    if protocol_of(url) in S3_PROTOCOLS:
        return S3Upload(fs, path, url, transfers, expected)
    return StagedUpload(fs, path, url, folder)


def probe_writable(fs: Any, path: str, url: str) -> None:
    """Fail now if ``url`` cannot be written: on S3 a multipart upload started and aborted
    (it creates nothing), elsewhere the folder it goes in must exist."""
    if protocol_of(url) in S3_PROTOCOLS:
        bucket, key, _ = fs.split_path(path)
        with remote_errors(f"cannot write '{url}'"):
            upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
            fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        return
    parent = fs._parent(path)
    with remote_errors(f"cannot write '{url}'"):
        if parent and parent != path and not fs.isdir(parent) and protocol_of(url) not in ("memory", "hf"):
            raise FileNotFoundError(parent)
