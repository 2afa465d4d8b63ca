"""An S3 server on this machine for storage_bench.py, and the transfers a user runs today.

The server is moto's (``moto_server``, from shuf-big's test extra) on 127.0.0.1 and a free
port, reached by every client through the environment (``AWS_ENDPOINT_URL`` and test
credentials), as a user reaches MinIO.  It runs on the same cores as the runs it serves: its
CPU time is measured per run (:meth:`S3Server.cpu_s`) and reported beside theirs.

``python -m benchmarks.s3server get URL... DIR`` and ``put FILE... URL_PREFIX`` are the
download and upload of "download, shuffle locally, upload": s3fs's own ``get`` and ``put``
(multipart, ten parts at once), what an fsspec user runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# Settings of the user's own that would point the clients elsewhere.
FOREIGN = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def moto_command() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if found is None:
        raise SystemExit("moto_server is missing: pip install 'moto[server]' (or shuf-big's '.[test]')")
    return found


class S3Server:
    """``moto_server`` on 127.0.0.1, started by ``with`` and stopped after it."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment of every client: this server and its test credentials."""
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
        return {**env, **CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def __enter__(self) -> S3Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            argv = [moto_command(), "-H", "127.0.0.1", "-p", str(self.port)]
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"moto_server did not start: see {self.log}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far (user and system)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def filesystem(self) -> Any:
        """An s3fs filesystem on this server, for setting up and checking (never timed)."""
        import s3fs  # type: ignore[import-untyped, unused-ignore]

        return s3fs.S3FileSystem(
            key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.url,
            skip_instance_cache=True,
        )


def incomplete_uploads(fs: Any, bucket: str) -> int:
    """Multipart uploads started and neither completed nor aborted: what a run must not leave."""
    return len(fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", []))


def transfer(argv: list[str]) -> None:
    """``get URL... DIR`` or ``put FILE... PREFIX`` with s3fs, configured by the environment."""
    import s3fs

    fs = s3fs.S3FileSystem()
    verb, *paths = argv
    if verb == "get" and len(paths) >= 2:
        fs.get(paths[:-1], paths[-1].rstrip("/") + "/")
    elif verb == "put" and len(paths) >= 2:
        fs.put(paths[:-1], paths[-1].rstrip("/") + "/")
    else:
        raise SystemExit("usage: python -m benchmarks.s3server get URL... DIR | put FILE... URL_PREFIX")


if __name__ == "__main__":
    transfer(sys.argv[1:])
