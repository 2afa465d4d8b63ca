"""Real servers on 127.0.0.1 for the object-storage tests: an S3 server (moto's, in a process
of its own, reached through the environment as a user reaches MinIO) and a web server."""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Return once something accepts connections on ``port`` (the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            threading.Event().wait(0.05)  # polling a condition, not a timed wait
    raise RuntimeError(f"nothing listens on port {port}")


class S3Server:
    """moto's S3 server; :meth:`bucket` makes a fresh bucket, :attr:`env` points clients at it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def bucket(self) -> str:
        name = f"test-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def uploads(self, bucket: str) -> list[str]:
        """Keys with an incomplete multipart upload: what a failed run must not leave."""
        listed = self.client().list_multipart_uploads(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Uploads", []))


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@contextmanager
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    command = Path(sys.executable).with_name("moto_server")
    argv = [str(command)] if command.is_file() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*argv, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class NoRangeHandler(http.server.SimpleHTTPRequestHandler):
    """Python's file server, which answers every GET with the whole file (no ``Range``)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RangeHandler(NoRangeHandler):
    """The same, answering ``Range: bytes=A-B`` with 206 and those bytes, as object stores do."""

    def send_head(self) -> Any:
        wanted = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not wanted or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        lo_text, _, hi_text = wanted.removeprefix("bytes=").partition("-")
        lo, hi = int(lo_text or 0), min(int(hi_text or size - 1), size - 1)
        handle = open(path, "rb")  # noqa: SIM115 (closed by the server after copying)
        handle.seek(lo)
        self.send_response(206)
        self.send_header("Content-Length", str(hi - lo + 1))
        self.send_header("Content-Range", f"bytes {lo}-{hi}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(handle, hi - lo + 1)


class _Limited:
    def __init__(self, handle: Any, left: int) -> None:
        self.handle = handle
        self.left = left

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return bytes(data)

    def close(self) -> None:
        self.handle.close()


@contextmanager
def web_server(folder: Path, ranges: bool) -> Iterator[str]:
    """A thread serving ``folder`` on 127.0.0.1; yields its base URL."""
    handler = functools.partial(RangeHandler if ranges else NoRangeHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SLOW_DOWN = (
    b"<?xml version='1.0' encoding='UTF-8'?>"
    b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
)


CUT_FROM = 1 << 20  # bytes of a GET's body before ``cut`` applies


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that answers every ``every``-th
    request with 503 SlowDown, as a busy S3 does (none when 0); the others are passed on.

    ``cut`` breaks the first GET body over 1 MiB after its first MiB: ``"hold"`` stalls it
    until :attr:`released` is set (a stalled connection), ``"reset"`` drops the connection.
    """

    def __init__(self, upstream: str, every: int = 7, cut: str | None = None) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.every = every
        self.cut = cut
        self.count = 0
        self.faults = 0
        self.cuts = 0
        self.released = threading.Event()
        self.lock = threading.Lock()

    def fault_now(self) -> bool:
        with self.lock:
            self.count += 1
            if self.every and self.count % self.every == 0:
                self.faults += 1
                return True
            return False

    def cut_now(self, command: str, size: int) -> str | None:
        with self.lock:
            if self.cut is None or command != "GET" or size <= CUT_FROM or self.cuts:
                return None
            self.cuts += 1
            return self.cut


def _proxy_handler(proxy: FaultProxy) -> type[http.server.BaseHTTPRequestHandler]:
    import http.client

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if proxy.fault_now():
                self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                return
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                reply = upstream.getresponse()
                data = reply.read()
                passed = [(k, v) for k, v in reply.getheaders() if k.lower() not in ("transfer-encoding", "connection")]
                self._answer(reply.status, passed, data, head=self.command == "HEAD")
            finally:
                upstream.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes, head: bool = False) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)) if not head else dict(headers).get("Content-Length", "0"))
            self.end_headers()
            if head:
                return
            cut = proxy.cut_now(self.command, len(data)) if status < 300 else None
            if cut is None:
                self.wfile.write(data)
                return
            self.wfile.write(data[:CUT_FROM])
            self.wfile.flush()
            if cut == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            proxy.released.wait(60)
            self.wfile.write(data[CUT_FROM:])

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    return Handler


@contextmanager
def fault_proxy(upstream: str, every: int = 7, cut: str | None = None) -> Iterator[tuple[str, FaultProxy]]:
    """A :class:`FaultProxy` on a thread; yields (its endpoint URL, the proxy)."""
    proxy = FaultProxy(upstream, every, cut)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        proxy.released.set()  # a held body ends, so its thread does
        server.shutdown()
        server.server_close()
