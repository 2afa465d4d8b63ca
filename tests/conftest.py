"""Shared fixtures: the command, its runner, input files, size-limited file systems, a Dask cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ShufBig, seq, try_mount_tmpfs, write_numbered
from hypothesis import settings

# No per-example deadline: a property's examples are checked for what they compute, and a
# loaded CI machine makes a 200 ms deadline fail where nothing is wrong (no timed tests).
settings.register_profile("shuf-big", deadline=None)
settings.load_profile("shuf-big")


@pytest.fixture(scope="session")
def shuf_big_cmd() -> list[str]:
    """The installed console script (the venv's own first), else ``python -m shuf_big``."""
    beside = Path(sys.executable).with_name("shuf-big")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("shuf-big")
    return [found] if found else [sys.executable, "-m", "shuf_big"]


@pytest.fixture
def sb(shuf_big_cmd: list[str], tmp_path: Path) -> ShufBig:
    """The command with a private TMPDIR under this test's tmp_path."""
    return ShufBig(shuf_big_cmd, tmp_path)


# -- input files -------------------------------------------------------------------------------


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    """``seq 1000``: in memory at any budget."""
    path = tmp_path / "in.txt"
    path.write_bytes(seq(1000))
    return path


@pytest.fixture(scope="session")
def big20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 20 MB: with --mem 1M it is still in pass 1 or 2 when a reader leaves."""
    return write_numbered(tmp_path_factory.mktemp("big") / "big20.txt", 20 * 1000 * 1000 // 8)


@pytest.fixture(scope="session")
def input24(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 MB of 8-byte lines: about 3 s through both passes at --mem 4M."""
    return write_numbered(tmp_path_factory.mktemp("input24") / "in24.txt", 3_000_000)


@pytest.fixture(scope="session")
def big50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 50 MB: long enough at --mem 1M to be caught mid-run by a signal."""
    return write_numbered(tmp_path_factory.mktemp("big") / "big50.txt", 50 * 1000 * 1000 // 8)


# -- file systems that fill up -----------------------------------------------------------------


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """Mount size-limited tmpfs file systems (real ENOSPC); skip where the kernel forbids it."""
    mounted: list[Path] = []

    def mount(name: str, size: int) -> Path:
        where = tmp_path / name
        where.mkdir()
        refused = try_mount_tmpfs(where, size)
        if refused is not None:
            pytest.skip(refused)
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True)


# -- Dask --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-thread workers in this process: fast to start, and they share memory://.

    One per module that uses it (test_engines, test_dask), closed at the module's end: an
    idle cluster's threads would otherwise live on in this process during the later
    files' in-process allocation measurements (test_memory) and forks (test_signals).
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50
    ) as c:
        yield c


# -- object storage ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    """An S3 server on 127.0.0.1 (moto's, in its own process) for the whole session."""
    pytest.importorskip("moto")
    from servers import s3_server

    with s3_server() as server:
        yield server


@pytest.fixture
def s3_sb(sb: ShufBig, s3: Any) -> ShufBig:
    """The command with the S3 server's endpoint and credentials in its environment."""
    sb.env.update(s3.env)
    return sb
