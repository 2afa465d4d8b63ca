"""The Dask engine: the local engine's output on a cluster, fsspec storage, lost workers."""

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
from click.testing import CliRunner
from helpers import assert_one_error_line, numbered_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shuf_big
from shuf_big.cli import cli
from shuf_big.dask_engine import bucket_rows, piece_limits
from shuf_big.dask_tasks import overlaps_itself

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")


@pytest.fixture(scope="module")
def cluster():
    """Two single-thread workers in this process: fast to start, and they share memory://."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50
    ) as c:
        yield c


def words(count: int, seed: int) -> bytes:
    """Lines of varied length (0-40 bytes), some repeated."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 40, count)
    letters = rng.integers(ord("a"), ord("z") + 1, int(lengths.sum()), dtype=np.uint8).tobytes()
    out, at = [], 0
    for n in lengths.tolist():
        out.append(letters[at : at + n] + b"\n")
        at += n
    return b"".join(out)


def local_and_dask(tmp: Path, cluster, srcs: list[Path], name: str = "out.txt", **kwargs) -> tuple[Path, Path]:
    """Run both engines with the same options; return (local output, dask output)."""
    (tmp / "local").mkdir(parents=True, exist_ok=True)
    (tmp / "dask").mkdir(exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    local, remote = tmp / "local" / name, tmp / "dask" / name
    shuf_big.shuffle([str(s) for s in srcs], str(local), **kwargs)
    shuf_big.shuffle(
        [str(s) for s in srcs],
        str(remote),
        engine="dask",
        scheduler=cluster.scheduler_address,
        temp_url=str(tmp / "tmp"),
        **kwargs,
    )
    assert os.listdir(tmp / "tmp") == [], "the Dask engine left temp files"
    return local, remote


@pytest.mark.parametrize(
    ("mem", "sep", "header"),
    [
        ("64K", None, 0),  # many blocks, many buckets
        ("16K", None, 2),  # buckets over budget: reduce tasks read their ranges per key sub-range
        ("1M", None, 0),  # few blocks
        ("64K", "</doc>\n", 1),  # a separator that cannot overlap itself: split anywhere
        ("64K", "xx", 0),  # one that can: each input is one block
    ],
)
def test_same_bytes_as_the_local_engine(tmp_path: Path, cluster, mem: str, sep: str | None, header: int) -> None:
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    if sep is None:
        a.write_bytes(words(6000, 1))
        b.write_bytes(words(3000, 2) + b"no final newline")
    else:
        token = sep.encode()
        a.write_bytes(token.join(words(4000, 1).split(b"\n")) + b"x" + token[:1])
        b.write_bytes(token.join(words(2000, 2).split(b"\n")) + b"tail")
    c.write_bytes(b"")
    local, remote = local_and_dask(tmp_path, cluster, [a, c, b], mem=mem, seed=7, record_separator=sep, header=header)
    assert local.read_bytes() == remote.read_bytes()
    assert len(local.read_bytes()) > 100_000


def test_the_same_seed_gives_the_same_bytes_for_any_budget(tmp_path: Path, cluster) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(numbered_rows(0, 40_000))
    outs = []
    for mem in ("32K", "256K", "4M"):
        _, remote = local_and_dask(tmp_path / mem, cluster, [src], mem=mem, seed=11)
        outs.append(remote.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert sorted(outs[0].splitlines(keepends=True)) == sorted(src.read_bytes().splitlines(keepends=True))
    assert outs[0] != src.read_bytes()


def test_zero_terminated(tmp_path: Path, cluster) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(words(5000, 3).replace(b"\n", b"\0").replace(b"a", b"\n"))
    local, remote = local_and_dask(tmp_path, cluster, [src], mem="64K", seed=3, zero_terminated=True)
    assert local.read_bytes() == remote.read_bytes()


def test_compressed_inputs_and_sharded_compressed_outputs(tmp_path: Path, cluster) -> None:
    plain = words(8000, 4)
    srcs = [tmp_path / "a.txt.gz", tmp_path / "b.txt"]
    srcs[0].write_bytes(gzip.compress(plain[: len(plain) // 2]))
    srcs[1].write_bytes(plain[len(plain) // 2 :])
    pattern = "part-{shard}-of-{shards}.txt.gz"
    local, remote = local_and_dask(tmp_path, cluster, srcs, name=pattern, mem="64K", seed=5, shards=3, header=1)
    for shard in range(3):
        name = pattern.format(shard=shard, shards=3)
        want = gzip.decompress((local.parent / name).read_bytes())
        got = gzip.decompress((remote.parent / name).read_bytes())
        assert got == want
        assert want.startswith(plain.split(b"\n")[0] + b"\n")  # the header on top of every shard


def test_more_shards_than_records(tmp_path: Path, cluster) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"a\nb\n")
    local, remote = local_and_dask(tmp_path, cluster, [src], name="s{shard}.txt", mem="64K", seed=1, shards=4)
    for shard in range(4):
        name = f"s{shard}.txt"
        assert (remote.parent / name).read_bytes() == (local.parent / name).read_bytes()
    assert sorted((remote.parent / f"s{s}.txt").read_bytes() for s in range(4)) == [b"", b"", b"a\n", b"b\n"]


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


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blob=st.binary(max_size=3000).map(lambda b: b.replace(b"\r", b"\n")),
    mem=st.sampled_from(["16K", "32K", "1M"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_bytes_give_the_local_output(tmp_path_factory, cluster, blob: bytes, mem: str, seed: int) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "in.bin"
    src.write_bytes(blob)
    local, remote = local_and_dask(tmp, cluster, [src], mem=mem, seed=seed)
    assert local.read_bytes() == remote.read_bytes()


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


# -- failures and option errors --------------------------------------------------------------


def test_a_failed_run_leaves_the_output_untouched(tmp_path: Path, cluster) -> None:
    dst = tmp_path / "out.txt"
    dst.write_bytes(b"precious\n")
    (tmp_path / "tmp").mkdir()
    with pytest.raises(shuf_big.ShufBigError, match=r"cannot open 'missing\.txt': No such file or directory"):
        shuf_big.shuffle(
            ["missing.txt"],
            str(dst),
            engine="dask",
            scheduler=cluster.scheduler_address,
            temp_url=str(tmp_path / "tmp"),
        )
    assert dst.read_bytes() == b"precious\n"
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask"], "--engine dask reads files or URLs, not standard input"),
        (["--engine", "dask", "-n", "3", "f"], "--engine dask cannot be combined with -n"),
        (["--engine", "dask", "--aligned", "f", "g", "-o", "a", "-o", "b"], "cannot be combined with --aligned"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "f"], "needs --temp-url"),
        (["--temp-url", "memory://x", "f"], "--scheduler and --temp-url need --engine dask"),
    ],
)
def test_option_errors_are_one_line(tmp_path: Path, shuf_big_cmd: list[str], args: list[str], message: str) -> None:
    for name in ("f", "g"):
        (tmp_path / name).write_bytes(b"x\n")
    run = subprocess.run([*shuf_big_cmd, *args], capture_output=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert_one_error_line(run.stderr, message)
    assert run.stdout == b""


def test_engine_is_a_choice() -> None:
    result = CliRunner().invoke(cli, ["--engine", "spark", "f"])
    assert result.exit_code == 2
    assert "'spark' is not one of 'local', 'dask'" in result.output


# -- real worker processes ----------------------------------------------------------------


def test_command_starts_a_local_cluster(tmp_path: Path, shuf_big_cmd: list[str]) -> None:
    """``--engine dask -j 2``: two worker processes; sharded gzip output with the same
    records per shard as the local engine's, and the dashboard's address on stderr."""
    src = tmp_path / "in.txt"
    src.write_bytes(words(20_000, 8))
    pattern = "out-{shard}.txt.gz"
    common = ["--seed", "4", "-S", "256K", "--shards", "2", str(src)]
    (tmp_path / "local").mkdir()
    subprocess.run([*shuf_big_cmd, *common, "-o", str(tmp_path / "local" / pattern)], check=True)
    (tmp_path / "dask").mkdir()
    (tmp_path / "tmp").mkdir()
    dask = ["--engine", "dask", "-j", "2", "-T", str(tmp_path / "tmp"), "-o", str(tmp_path / "dask" / pattern)]
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
    assert os.listdir(tmp_path / "tmp") == []


def test_standard_output(tmp_path: Path, cluster, capfd) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(words(3000, 9))
    shuf_big.shuffle(str(src), str(tmp_path / "want.txt"), mem="64K", seed=2)
    capfd.readouterr()
    shuf_big.shuffle(
        str(src), "-", mem="64K", seed=2, engine="dask", scheduler=cluster.scheduler_address, temp_url=str(tmp_path)
    )
    assert capfd.readouterr().out.encode() == (tmp_path / "want.txt").read_bytes()


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
