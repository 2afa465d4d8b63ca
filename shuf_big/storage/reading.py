"""Remote inputs read ahead: the next ranges of an object are fetched on threads of their own
while the engine scatters the current one, so the network and the CPU work at once.

S3 objects, and objects on servers that may not honour ranges (``http(s)://``), are
streamed: one GET each, read ``block`` bytes at a time while the next block is fetched (see
:mod:`shuf_big.storage.streams`).  Objects elsewhere, of known size, are fetched as ranges of
``block`` bytes, ``depth`` at a time.  Either holds at most ``(depth + 1) * block`` bytes:
what the plan reserves for it.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shuf_big.errors import ShufBigError
from shuf_big.storage.failures import remote_errors
from shuf_big.storage.streams import is_s3, open_stream, protocols

STREAMED = ("http", "https")


class RemoteFile(io.RawIOBase):
    """The bytes of ``path`` on ``fs`` (``url`` for messages), read ahead; ``size`` is what
    its listing said (None: unknown, read to the end).  Reading fewer bytes than ``size``
    is an error, as for a local file that shrank.  ``fetched`` counts bytes downloaded."""

    def __init__(self, fs: Any, path: str, url: str, size: int | None, block: int, depth: int) -> None:
        super().__init__()
        self.fs = fs
        self.path = path
        self.url = url
        self.size = size
        self.block = max(block, 1)
        self.depth = max(depth, 1)
        self.lock = threading.Lock()
        self.fetched = 0
        self.pool = ThreadPoolExecutor(self.depth, thread_name_prefix="shuf-big-fetch")
        self._start()

    def _start(self) -> None:
        self.position = 0  # bytes handed out
        self.asked = 0  # first byte not yet asked for
        self.ahead: deque[Future[bytes | bytearray]] = deque()
        self.current = memoryview(b"")
        self.stream: Any = None
        self.ended = False
        if self.size is None or streamed(self.fs):
            with remote_errors(f"cannot open '{self.url}'"):
                self.stream = open_stream(self.fs, self.path)
        self._ask()

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def _ask(self) -> None:
        """Keep ``depth`` fetches in flight."""
        while len(self.ahead) < self.depth and not self.ended:
            if self.stream is not None:
                if self.ahead:
                    return  # a stream is read in order, one block at a time
                self.ahead.append(self.pool.submit(self._read_stream))
                continue
            assert self.size is not None
            if self.asked >= self.size:
                return
            end = min(self.asked + self.block, self.size)
            self.ahead.append(self.pool.submit(self._fetch, self.asked, end))
            self.asked = end

    def _fetch(self, start: int, end: int) -> bytes:
        with remote_errors(f"read error on '{self.url}'"):
            data = self.fs.cat_file(self.path, start=start, end=end)
        if len(data) != end - start:
            raise ShufBigError(
                f"read error on '{self.url}': asked for bytes {start}-{end - 1}, got {len(data)} bytes "
                "(the object changed while being read?)"
            )
        self._count(len(data))
        return bytes(data)

    def _read_stream(self) -> bytes | bytearray:
        with remote_errors(f"read error on '{self.url}'"):
            data: bytes | bytearray = self.stream.read(self.block)
        self._count(len(data))
        return data

    def _count(self, n: int) -> None:
        with self.lock:
            self.fetched += n

    def _fill(self) -> bool:
        """Make the next fetched block current; False at the end."""
        while not self.current:
            if not self.ahead:
                self._check_size()
                return False
            data = self.ahead.popleft().result()
            if self.stream is not None:
                self.ended = not data
            self._ask()
            self.current = memoryview(data)
        return True

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes at most, still to be read (to sniff compression)."""
        self._fill()
        return self.current[:n].tobytes()

    def readinto(self, view: Any) -> int:
        target = memoryview(view).cast("B")
        if not self._fill():
            return 0
        n = min(len(target), len(self.current))
        target[:n] = self.current[:n]
        self.current = self.current[n:]
        self.position += n
        return n

    def _check_size(self) -> None:
        if self.size is not None and self.position < self.size:
            raise ShufBigError(
                f"'{self.url}' shrank while being read: {self.size} bytes listed, only {self.position} read"
            )

    def rewind(self) -> None:
        """Start again from the first byte (a new stream where the object is streamed)."""
        self._drop()
        self._start()

    def _drop(self) -> None:
        for future in self.ahead:
            if not future.cancel():
                future.exception()  # a fetch under way is waited for: it may be using the stream
        self.ahead.clear()
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def close(self) -> None:
        if not self.closed:
            self._drop()
            self.pool.shutdown(wait=True, cancel_futures=True)
        super().close()


def streamed(fs: Any) -> bool:
    """Whether ``fs`` is read as a stream: S3 (one GET an object), a web server (it may
    ignore ranges)."""
    return is_s3(fs) or any(p in STREAMED for p in protocols(fs))
