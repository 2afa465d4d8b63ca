"""The object storage of one run: each URL's filesystem (with the run's storage options),
what listing it said (asked once, in the preflight, and reused by the readers), and the
transfer sizes the plan reserved memory for."""

from __future__ import annotations

import tempfile
from typing import Any

from shuf_big.errors import ShufBigError
from shuf_big.storage.failures import remote_errors
from shuf_big.storage.reading import RemoteFile
from shuf_big.storage.urls import StorageOptions, filesystem
from shuf_big.storage.writing import S3Upload, StagedUpload, Transfers, open_upload, probe_writable

DEFAULT_BLOCK = 8 << 20


class Store:
    """URLs as one run reads and writes them (see :mod:`shuf_big.storage`)."""

    def __init__(
        self,
        options: StorageOptions | None = None,
        fetch: tuple[int, int] = (DEFAULT_BLOCK, 2),
        upload: tuple[int, int] = (DEFAULT_BLOCK, 2),
        staging: str | None = None,
    ) -> None:
        self.options = options or StorageOptions()
        self.fetch_block, self.fetch_depth = fetch
        self.transfers = Transfers(*upload)
        self.staging = staging or tempfile.gettempdir()
        self.listed: dict[str, dict[str, Any]] = {}
        self.files: list[RemoteFile] = []
        self.uploads: list[S3Upload | StagedUpload] = []

    def locate(self, url: str) -> tuple[Any, str]:
        return filesystem(url, self.options)

    def info(self, url: str, origin: str = "") -> dict[str, Any]:
        """What the store says of ``url`` (its size above all); a missing object, bucket or
        credentials, or an endpoint that does not answer, is a one-line error naming it."""
        if url not in self.listed:
            fs, path = self.locate(url)
            where = f"{origin}: " if origin else ""
            with remote_errors(f"{where}cannot open '{url}'"):
                info = fs.info(path)
            if info.get("type") == "directory":
                raise ShufBigError(f"{where}cannot read '{url}': Is a directory")
            self.listed[url] = info
        return self.listed[url]

    def size(self, url: str) -> int | None:
        size = self.info(url).get("size")
        return int(size) if size is not None else None

    def open(self, url: str) -> RemoteFile:
        fs, path = self.locate(url)
        handle = RemoteFile(fs, path, url, self.size(url), self.fetch_block, self.fetch_depth)
        self.files.append(handle)
        return handle

    def upload(self, url: str, expected: int | None = None) -> S3Upload | StagedUpload:
        fs, path = self.locate(url)
        upload = open_upload(fs, path, url, self.transfers, self.staging, expected)
        self.uploads.append(upload)
        return upload

    def check_writable(self, url: str) -> None:
        fs, path = self.locate(url)
        probe_writable(fs, path, url)

    def fetched(self) -> int:
        """Bytes downloaded so far (read ahead included)."""
        return sum(handle.fetched for handle in self.files)

    def sent(self) -> int:
        """Bytes uploaded so far."""
        return sum(upload.sent for upload in self.uploads)

    def moved(self) -> tuple[int | None, int | None]:
        """Bytes fetched and sent so far, None for a side with nothing remote (for the bar)."""
        return (self.fetched() if self.files else None, self.sent() if self.uploads else None)

    def close(self) -> None:
        self.transfers.close()
