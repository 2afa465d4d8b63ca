"""What only the Dask engine has: fsspec storage (memory:// for inputs, temp and outputs,
URL globs), the LocalCluster the command starts, a worker killed mid-run, a missing Dask,
and the driver's planning helpers.  The contract it shares with the local engine (same
bytes for the same seed, records, separators, shards, compression, errors) is the
conformance suite in test_engines.py, run over both engines.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_error_line, numbered_rows, words

import shuf_big
from shuf_big.engines.dask.engine import bucket_rows
from shuf_big.engines.dask.stages import piece_limits
from shuf_big.engines.dask.tasks import overlaps_itself

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")


# -- fsspec storage ---------------------------------------------------------------------------


def test_memory_filesystem_for_inputs_temp_and_outputs(tmp_path: Path, cluster) -> None:
    """fsspec's memory:// stands in for object storage (the in-process workers share it);
    a glob in an input URL is expanded, sorted, as a shell would."""
    blob = words(6000, 6)
    fs = fsspec.filesystem("memory")
    fs.pipe("/corpus/in-2.txt", blob[3000:])
    fs.pipe("/corpus/in-1.txt", blob[:3000])
    shuf_big.shuffle(
        "memory://corpus/in-*.txt",
        "memory://corpus/out.txt.gz",
        engine="dask",
        scheduler=cluster.scheduler_address,
        temp_url="memory://scratch",
        mem="64K",
        seed=9,
    )
    (tmp_path / "a.txt").write_bytes(blob[:3000])
    (tmp_path / "b.txt").write_bytes(blob[3000:])
    shuf_big.shuffle([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], str(tmp_path / "local.txt"), mem="64K", seed=9)
    assert gzip.decompress(fs.cat("/corpus/out.txt.gz")) == (tmp_path / "local.txt").read_bytes()
    assert not fs.exists("/scratch") or fs.ls("/scratch") == []
    assert sorted(p["name"] for p in fs.ls("/corpus")) == ["/corpus/in-1.txt", "/corpus/in-2.txt", "/corpus/out.txt.gz"]
    with pytest.raises(shuf_big.ShufBigError, match=r"cannot open 'memory://corpus/nothing-\*': No such file"):
        shuf_big.shuffle("memory://corpus/nothing-*", "memory://corpus/x", engine="dask", temp_url="memory://s")


# -- the driver's planning ----------------------------------------------------------------------


def test_piece_limits_cut_buckets_where_the_shards_end() -> None:
    # 10 records in buckets of 4, 3, 3 over 3 outputs: shards hold records [0, 3), [3, 6), [6, 10)
    assert piece_limits([4, 3, 3], 3) == [(0, [3, 4]), (1, [2, 3]), (2, [3])]
    assert piece_limits([5, 5], 1) == [(0, [5]), (0, [5])]
    # more outputs than records: empty outputs get no piece
    assert piece_limits([1, 1], 4) == [(1, [1]), (3, [1])]


def test_bucket_rows_group_the_spill_indexes_by_bucket() -> None:
    a = np.array([[0, 0, 5, 5, 2, 1, -1], [3, 5, 7, 12, 2, 1, -1]])
    b = np.array([[3, 0, 4, 4, 2, 1, 9]])
    buckets, rows = bucket_rows([a, b])
    assert buckets == [0, 3]
    assert rows[0].tolist() == [[0, 0, 5, 5, 2, 1, -1, 0]]
    assert rows[1].tolist() == [[3, 5, 7, 12, 2, 1, -1, 0], [3, 0, 4, 4, 2, 1, 9, 1]]
    assert bucket_rows([]) == ([], [])


def test_overlapping_separators_are_read_whole() -> None:
    assert overlaps_itself(b"\n\n") and overlaps_itself(b"abca") and overlaps_itself(b"xx")
    assert not overlaps_itself(b"\n") and not overlaps_itself(b"</doc>\n") and not overlaps_itself(b"\r\n")


# -- real worker processes ----------------------------------------------------------------------


def test_command_starts_a_local_cluster(tmp_path: Path, shuf_big_cmd: list[str]) -> None:
    """``--engine dask -j 2``: two worker processes; sharded gzip output with the same
    records per shard as the local engine's, the dashboard's address on stderr, and the
    run's one task bar as plain log lines (stderr is not a terminal)."""
    src = tmp_path / "in.txt"
    src.write_bytes(words(20_000, 8))
    pattern = "out-{shard}.txt.gz"
    common = ["--seed", "4", "-S", "256K", "--shards", "2", str(src)]
    (tmp_path / "local").mkdir()
    subprocess.run([*shuf_big_cmd, *common, "-o", str(tmp_path / "local" / pattern)], check=True)
    (tmp_path / "dask").mkdir()
    (tmp_path / "tmp").mkdir()
    dask = [
        "--engine",
        "dask",
        "-j",
        "2",
        "--progress",
        "-T",
        str(tmp_path / "tmp"),
        "-o",
        str(tmp_path / "dask" / pattern),
    ]
    run = subprocess.run(
        [*shuf_big_cmd, *dask, *common],
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    for shard in range(2):
        name = pattern.format(shard=shard)
        want = gzip.decompress((tmp_path / "local" / name).read_bytes())
        assert gzip.decompress((tmp_path / "dask" / name).read_bytes()) == want
        assert len(want) > 100_000
    assert b"Dask dashboard at http" in run.stderr
    assert b"\r" not in run.stderr
    assert b"dask: " in run.stderr and b" tasks, elapsed " in run.stderr
    assert os.listdir(tmp_path / "tmp") == []


def test_a_local_cluster_writes_a_plain_output_in_place(tmp_path: Path, shuf_big_cmd: list[str]) -> None:
    """One plain output on a LocalCluster: the reduce tasks write their byte ranges of its
    temp file (after the header the driver writes), which replaces the old file whole;
    a run that fails later leaves the old file and the temp directory as they were."""
    src = tmp_path / "in.tsv"
    src.write_bytes(b"id\tword\n" + words(30_000, 8))
    dst = tmp_path / "out.tsv"
    dst.write_bytes(b"old\n")
    want = tmp_path / "want.tsv"
    common = ["--seed", "4", "--header", "1", "-S", "256K"]
    subprocess.run([*shuf_big_cmd, *common, str(src), "-o", str(want)], check=True)
    (tmp_path / "tmp").mkdir()
    dask = ["--engine", "dask", "-j", "2", "-q", "-T", str(tmp_path / "tmp")]
    run = subprocess.run([*shuf_big_cmd, *dask, *common, str(src), "-o", str(dst)], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""
    assert dst.read_bytes() == want.read_bytes()
    bad = tmp_path / "bad.tsv.gz"
    bad.write_bytes(gzip.compress(b"id\tword\n" + words(30_000, 8))[:-64])
    failed = subprocess.run(
        [*shuf_big_cmd, *dask, *common, str(src), str(bad), "-o", str(dst)], capture_output=True, timeout=120
    )
    assert failed.returncode == 1
    assert_one_error_line(failed.stderr, f"'{bad}'")
    assert dst.read_bytes() == want.read_bytes()
    assert os.listdir(tmp_path / "tmp") == []
    assert sorted(os.listdir(tmp_path)) == ["bad.tsv.gz", "in.tsv", "out.tsv", "tmp", "want.tsv"]


def test_a_killed_worker_loses_no_records(tmp_path: Path) -> None:
    """SIGKILL one of two worker processes mid-run: Dask reruns its tasks (written files
    appear by rename only when whole), and the output is still exactly the local one."""
    src = tmp_path / "in.txt"
    src.write_bytes(numbered_rows(0, 1_500_000))  # 12 MB
    want = tmp_path / "want.txt"
    shuf_big.shuffle(str(src), str(want), mem="1M", seed=21)
    temp = tmp_path / "tmp"
    temp.mkdir()
    dst = tmp_path / "out.txt"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        ) as c,
        distributed.Client(c) as client,
    ):
        pids = list(client.run(os.getpid).values())
        errors: list[BaseException] = []

        def run() -> None:
            try:
                shuf_big.shuffle(
                    str(src),
                    str(dst),
                    engine="dask",
                    scheduler=c.scheduler_address,
                    temp_url=str(temp),
                    mem="1M",
                    seed=21,
                )
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 60
        while not any(name.startswith("spill-") for d in temp.iterdir() for name in os.listdir(d)):
            assert thread.is_alive() and time.monotonic() < deadline, "the run ended before any spill file"
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
        thread.join(180)
        assert not thread.is_alive()
    assert not errors, errors
    assert dst.read_bytes() == want.read_bytes()
    assert os.listdir(temp) == []


# -- without Dask ----------------------------------------------------------------------------------


def test_missing_dask_is_a_one_line_error(tmp_path: Path, shuf_big_cmd: list[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"a\n")
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "distributed.py").write_text("raise ImportError('hidden for the test')\n")
    env = {**os.environ, "PYTHONPATH": str(hide)}
    run = subprocess.run([*shuf_big_cmd, "--engine", "dask", str(src)], capture_output=True, env=env)
    assert run.returncode == 1
    assert_one_error_line(run.stderr, "pip install 'shuf-big[dask]'")
