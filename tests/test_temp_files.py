"""Temp files across runs: what a SIGKILLed run leaves on a file system without nameless
files (named temp files, forced with SHUF_BIG_NAMED_TEMP_FILES=1) is removed by the next
run (but not a live run's), two runs can share ``-T``, and a low open-file limit only
changes how buckets are split, not the bytes.  (SIGKILL with nameless files, which leaves
nothing at all, is in test_no_leftovers.)  (Temp files removed at exit and on signals are checked
by every test of test_signals and test_disk_full; a missing ``-T`` is in test_cli.)
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

from helpers import MiB, sorted_records, stopped_at, write_numbered

from shuf_big.system.tempfiles import NAMED_ENV


def test_sigkill_leftovers_are_removed_by_the_next_run(shuf_big_cmd: list[str], input24: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = input24  # 24 MB at --mem 1M: several groups of buckets in pass 2
    out = tmp_path / "out.txt"
    out.write_bytes(b"precious\n")
    args = [*shuf_big_cmd, str(src), "-o", str(out), "--mem", "1M", "-T", str(tmp), "--seed", "1"]
    env = {**os.environ, NAMED_ENV: "1"}
    proc = stopped_at("pass 2 started", args, env)  # a first group written, the rest still in buckets
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    stale = list(tmp.glob("shuf-big-*"))
    # What a killed run leaves: recognisable names carrying its host and pid, and never a
    # partial file at the -o path.
    assert [p.name for p in stale] == [p.name for p in stale if f"-{socket.gethostname()}-{proc.pid}-" in p.name]
    assert stale and any(p.iterdir() for p in stale)  # the killed run's bucket files
    assert len(list(tmp_path.glob(".out.txt.*.shuf-big.tmp"))) == 1
    assert out.read_bytes() == b"precious\n"
    # A leftover of a live process (this test's own pid) must survive the next run.
    alive = tmp / f"shuf-big-{socket.gethostname()}-{os.getpid()}-keepme"
    alive.mkdir()
    again = subprocess.run([*args[:-1], "2"], capture_output=True, env=env)
    assert again.returncode == 0, again.stderr
    assert sorted_records(out.read_bytes()) == sorted_records(src.read_bytes())
    assert list(tmp.iterdir()) == [alive]
    assert not list(tmp_path.glob(".out.txt.*.shuf-big.tmp"))


def test_two_runs_sharing_a_temp_dir_do_not_interfere(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    a = write_numbered(tmp_path / "a.txt", 500_000)
    b = tmp_path / "b.txt"
    b.write_bytes(b"".join(b"b-%d\n" % i for i in range(300_000)))
    procs = [
        subprocess.Popen(
            [*shuf_big_cmd, str(src), "-o", str(tmp_path / f"{src.stem}.out"), "--mem", "256K", "-T", str(tmp)]
        )
        for src in (a, b)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sorted_records((tmp_path / "a.out").read_bytes()) == sorted_records(a.read_bytes())
    assert sorted_records((tmp_path / "b.out").read_bytes()) == sorted_records(b.read_bytes())
    assert list(tmp.iterdir()) == []


def test_low_open_file_limit_still_completes_within_budget(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """64 descriptors allow few buckets per level: the shuffle scatters in levels."""
    src = write_numbered(tmp_path / "in.txt", 1_875_000)  # 15 MB at --mem 256K: hundreds of buckets' worth
    out = tmp_path / "out.txt"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    probe = "import resource,subprocess,sys;rc=subprocess.call(sys.argv[1:]);" + (
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024);sys.exit(rc)"
    )
    args = [*shuf_big_cmd, str(src), "-o", str(out), "--mem", "256K", "-T", str(tmp_path), "--seed", "4"]
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) <= 256 * 1024 + 64 * MiB
    reference = tmp_path / "ref.txt"
    unlimited = subprocess.run([*args[:3], str(reference), *args[4:], "--mem", "1G"], capture_output=True)
    assert unlimited.returncode == 0, unlimited.stderr
    assert out.read_bytes() == reference.read_bytes()  # same seed, same bytes, whatever the limit
    assert not list(tmp_path.glob("shuf-big-*"))


def test_low_open_file_limit_with_many_shards(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """Bucket files stay open from pass 1 until ordered (nameless files have no other
    handle), and 20 shard files are open at the end: at ``ulimit -n 64`` the fan-out makes
    room for both, and the shards hold the same bytes as without a limit."""
    src = write_numbered(tmp_path / "in.txt", 500_000)
    (tmp_path / "limited").mkdir()
    (tmp_path / "free").mkdir()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    args = [*shuf_big_cmd, str(src), "--mem", "1M", "-T", str(tmp_path), "--seed", "6", "--shards", "20"]
    pattern = str(tmp_path / "limited" / "{shard}.txt")
    limited = subprocess.run([*args, "-o", pattern], capture_output=True, preexec_fn=limit)
    assert limited.returncode == 0, limited.stderr
    free = subprocess.run([*args, "-o", str(tmp_path / "free" / "{shard}.txt")], capture_output=True)
    assert free.returncode == 0, free.stderr
    for shard in range(20):
        assert (tmp_path / "limited" / f"{shard}.txt").read_bytes() == (tmp_path / "free" / f"{shard}.txt").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["free", "in.txt", "limited"]
