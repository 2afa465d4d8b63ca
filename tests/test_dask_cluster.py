"""The Dask engine on a real cluster: a ``dask scheduler`` and two ``dask worker`` processes
started from Dask's own command lines on 127.0.0.1, reading, spilling to and writing the
S3 test server, as a user's cluster would.  The output is the local engine's byte for
byte, also when a worker is SIGKILLed mid-run, and nothing is left under ``--temp-url``
(no object, no incomplete upload), also after a failed run."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_error_line, numbered_rows
from servers import free_port, wait_for_port

import shuf_big

distributed = pytest.importorskip("distributed")
pytest.importorskip("s3fs")
pytest.importorskip("moto")

SEED = "7"


class RealCluster:
    """The scheduler's address, its client, and the environment that reaches the S3 server."""

    def __init__(self, address: str, env: dict[str, str]) -> None:
        self.address = address
        self.env = env
        self.client = distributed.Client(address)

    def worker_pids(self) -> list[int]:
        return sorted(self.client.run(os.getpid).values())


@pytest.fixture(scope="module")
def real_cluster(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    """``dask scheduler`` and two ``dask worker`` (one thread each, under a nanny that
    restarts a killed worker) on free ports of 127.0.0.1, no dashboard."""
    dask_cli = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, **s3.env}
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers: list[subprocess.Popen[bytes]] = []
    cluster = None
    try:
        wait_for_port(port, scheduler)
        for n in range(2):
            local = tmp_path_factory.mktemp(f"worker{n}")
            argv = [dask_cli, "worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1", "--nthreads", "1"]
            workers.append(subprocess.Popen([*argv, "--no-dashboard", "--local-directory", str(local)], **quiet))
        cluster = RealCluster(f"tcp://127.0.0.1:{port}", s3.env)
        cluster.client.wait_for_workers(2, timeout=120)
        yield cluster
    finally:
        if cluster is not None:
            cluster.client.close()
        for proc in [*workers, scheduler]:
            proc.terminate()
        for proc in [*workers, scheduler]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def s3_env(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """This process's S3 clients (the driver's) reach the test server."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


def _local_bytes(data: bytes, tmp_path: Path, **options: Any) -> bytes:
    src, dst = tmp_path / "want-in.txt", tmp_path / "want-out.txt"
    src.write_bytes(data)
    shuf_big.shuffle(str(src), str(dst), seed=int(SEED), mem="4M", **options)
    return dst.read_bytes()


def _leftovers(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [key for key in s3.keys(bucket) if key.startswith(prefix)] + s3.uploads(bucket)


def test_s3_inputs_spills_and_output_equal_the_local_engine(
    real_cluster: RealCluster, s3: Any, tmp_path: Path, shuf_big_cmd: list[str]
) -> None:
    """Two inputs on S3, spills under --temp-url, the output one multipart upload whose
    parts the reduce tasks sent (6.4 MB at --mem 4M: two parts, the first of 5 MiB or more)."""
    bucket = s3.bucket()
    first, second = numbered_rows(0, 400_000), numbered_rows(400_000, 800_000)
    s3.put(bucket, "in/a.txt", first)
    s3.put(bucket, "in/b.txt", second)
    argv = [*shuf_big_cmd, f"s3://{bucket}/in/a.txt", f"s3://{bucket}/in/b.txt", "--engine", "dask"]
    argv += ["--scheduler", real_cluster.address, "--temp-url", f"s3://{bucket}/tmp", "--mem", "4M"]
    run = subprocess.run(
        [*argv, "--seed", SEED, "-o", f"s3://{bucket}/out.txt"],
        capture_output=True,
        env={**os.environ, **s3.env},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert s3.get(bucket, "out.txt") == _local_bytes(first + second, tmp_path)
    assert _leftovers(s3, bucket, "tmp/") == []


def test_sharded_s3_outputs_equal_the_local_engine(real_cluster: RealCluster, s3_env: Any, tmp_path: Path) -> None:
    """Shards are cut inside buckets: pieces under --temp-url, concatenated by tasks."""
    bucket = s3_env.bucket()
    data = numbered_rows(0, 300_000)
    s3_env.put(bucket, "in.txt", data)
    shuf_big.shuffle(
        f"s3://{bucket}/in.txt",
        f"s3://{bucket}/out-{{shard}}.txt",
        shards=3,
        engine="dask",
        scheduler=real_cluster.address,
        temp_url=f"s3://{bucket}/tmp",
        mem="4M",
        seed=int(SEED),
    )
    want_dir = tmp_path / "want"
    want_dir.mkdir()
    (want_dir / "in.txt").write_bytes(data)
    shuf_big.shuffle(str(want_dir / "in.txt"), str(want_dir / "out-{shard}.txt"), shards=3, mem="4M", seed=int(SEED))
    for n in range(3):
        assert s3_env.get(bucket, f"out-{n}.txt") == (want_dir / f"out-{n}.txt").read_bytes()
    assert _leftovers(s3_env, bucket, "tmp/") == []


def test_a_worker_killed_mid_run_loses_nothing(real_cluster: RealCluster, s3_env: Any, tmp_path: Path) -> None:
    """SIGKILL one worker once the first spill objects exist: Dask reruns its tasks on the
    other (and on the one its nanny restarts); the output is still exactly the local one."""
    bucket = s3_env.bucket()
    data = numbered_rows(0, 800_000)
    s3_env.put(bucket, "in.txt", data)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            shuf_big.shuffle(
                f"s3://{bucket}/in.txt",
                f"s3://{bucket}/out.txt",
                engine="dask",
                scheduler=real_cluster.address,
                temp_url=f"s3://{bucket}/tmp",
                mem="4M",
                seed=int(SEED),
            )
        except BaseException as err:
            errors.append(err)

    victim = real_cluster.worker_pids()[0]
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while not any("/spill-" in key for key in s3_env.keys(bucket)):
        assert thread.is_alive() and time.monotonic() < deadline, "the run ended before any spill object"
        threading.Event().wait(0.02)  # polling a condition, not a timed wait
    os.kill(victim, signal.SIGKILL)
    thread.join(300)
    assert not thread.is_alive()
    assert not errors, errors
    assert s3_env.get(bucket, "out.txt") == _local_bytes(data, tmp_path)
    assert _leftovers(s3_env, bucket, "tmp/") == []
    real_cluster.client.wait_for_workers(2, timeout=120)  # the nanny's new worker, for the next tests


def test_a_failed_run_leaves_nothing_under_temp_url(
    real_cluster: RealCluster, s3: Any, tmp_path: Path, shuf_big_cmd: list[str]
) -> None:
    """A truncated gzip as the second listed input: one error line naming its
    --files-from line, the existing output untouched, no spill object or upload left."""
    bucket = s3.bucket()
    s3.put(bucket, "in/a.txt", numbered_rows(0, 400_000))
    s3.put(bucket, "in/b.txt.gz", gzip.compress(numbered_rows(0, 100_000))[:-100])
    s3.put(bucket, "out.txt", b"keep me\n")
    listing = tmp_path / "list.txt"
    listing.write_text(f"s3://{bucket}/in/a.txt\ns3://{bucket}/in/b.txt.gz\n")
    argv = [*shuf_big_cmd, "--files-from", str(listing), "--engine", "dask", "--scheduler", real_cluster.address]
    run = subprocess.run(
        [*argv, "--temp-url", f"s3://{bucket}/tmp", "--mem", "4M", "-o", f"s3://{bucket}/out.txt"],
        capture_output=True,
        env={**os.environ, **s3.env},
        timeout=300,
    )
    assert run.returncode == 1
    assert_one_error_line(run.stderr, f"{listing}:2: ", f"'s3://{bucket}/in/b.txt.gz'")
    assert s3.get(bucket, "out.txt") == b"keep me\n"
    assert _leftovers(s3, bucket, "tmp/") == []


def test_header_only_input_makes_an_object_of_the_header(
    real_cluster: RealCluster, s3_env: Any, tmp_path: Path
) -> None:
    """No records: no part to send, so the object is one PUT of the header, as the local
    engine writes it; a header and records: the header leads the first part."""
    bucket = s3_env.bucket()
    s3_env.put(bucket, "empty.tsv", b"id\tword\n")
    s3_env.put(bucket, "full.tsv", b"id\tword\n" + numbered_rows(0, 200_000))
    options = {"engine": "dask", "scheduler": real_cluster.address, "temp_url": f"s3://{bucket}/tmp", "header": 1}
    shuf_big.shuffle(f"s3://{bucket}/empty.tsv", f"s3://{bucket}/out-empty.tsv", seed=int(SEED), mem="4M", **options)
    assert s3_env.get(bucket, "out-empty.tsv") == b"id\tword\n"
    shuf_big.shuffle(f"s3://{bucket}/full.tsv", f"s3://{bucket}/out-full.tsv", seed=int(SEED), mem="4M", **options)
    want = _local_bytes(b"id\tword\n" + numbered_rows(0, 200_000), tmp_path, header=1)
    assert s3_env.get(bucket, "out-full.tsv") == want
    assert _leftovers(s3_env, bucket, "tmp/") == []
