"""SIGKILL leaves nothing behind: bucket files and partial outputs are nameless
(``O_TMPFILE``), read back through their descriptors, and an output gets its name only
when it is complete.

Each run stops itself at a named phase (``SHUF_BIG_STOP_AT``, the test hook of
:func:`shuf_big.system.signals.checkpoint`) and is killed there with SIGKILL.  Its temp dir and
output directory live on a small tmpfs of their own: after the kill they hold exactly what
they held before (an existing output byte for byte) and the file system's used blocks are
back where they were, the kernel having freed the nameless files.  Even while the run is
stopped, nothing in them has a new name.

The fallback for file systems without ``O_TMPFILE`` (NFS, some FUSE): named files, removed
on exit and reaped by a later run after SIGKILL; forced with SHUF_BIG_NAMED_TEMP_FILES=1,
and reached by a real EOPNOTSUPP/EISDIR/EINVAL from ``open``.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import PRECIOUS, MiB, nameless_files, numbered_rows, sorted_records, stopped_at, try_mount_tmpfs

import shuf_big
from shuf_big.system.signals import STOP_ENV
from shuf_big.system.tempfiles import NAMED_ENV

ROWS = 500_000  # 4 MB of 8-byte lines: at --mem 1M, 8 buckets (and 8 splits) in a second or two


@dataclass
class Disk:
    """A temp dir and an output dir on one file system (a tmpfs of 128 MiB when mounting
    works, whose used blocks are then compared)."""

    root: Path
    tmp: Path
    out: Path
    mounted: bool

    def used(self) -> int:
        st = os.statvfs(self.root)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def tree(self) -> dict[str, bytes | None]:
        """What ``find TMP OUT -mindepth 1`` shows, with each file's bytes."""
        found: dict[str, bytes | None] = {}
        for top in (self.tmp, self.out):
            for folder, dirs, files in os.walk(top):
                for name in dirs:
                    found[os.path.relpath(os.path.join(folder, name), self.root)] = None
                for name in files:
                    path = os.path.join(folder, name)
                    found[os.path.relpath(path, self.root)] = Path(path).read_bytes()
        return found


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    root = tmp_path / "fs"
    root.mkdir()
    mounted = try_mount_tmpfs(root, 128 << 20) is None
    try:
        if not mounted:
            probe = _nameless_probe(root)
            if not probe:
                pytest.skip(f"no tmpfs mount allowed, and {root} has no O_TMPFILE")
        (root / "tmp").mkdir()
        (root / "out").mkdir()
        yield Disk(root, root / "tmp", root / "out", mounted)
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], capture_output=True)


def _nameless_probe(folder: Path) -> bool:
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "in.txt"
    path.write_bytes(numbered_rows(0, ROWS))
    return path


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _env(disk: Disk, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (STOP_ENV, NAMED_ENV)}
    return {**env, "TMPDIR": str(disk.tmp), **extra}


# (phase, input through a pipe, sharded): 1 MiB through a pipe, of unknown size, at --mem
# 64K gets two buckets in pass 1, and pass 2 must split them.
MOMENTS = [
    ("pass 1 started", False, False),
    ("pass 1 done", False, False),
    ("bucket split", True, False),
    ("pass 2 started", False, False),
    ("shards written", False, True),
]


@pytest.mark.parametrize(("phase", "piped", "sharded"), MOMENTS, ids=[m[0].replace(" ", "-") for m in MOMENTS])
def test_sigkill_leaves_nothing(
    shuf_big_cmd: list[str], source: Path, disk: Disk, phase: str, piped: bool, sharded: bool
) -> None:
    if sharded:
        (disk.out / "part-1.txt").write_bytes(PRECIOUS)  # shard 1 exists; 0 and 2 do not
        dst = ["--shards", "3", "-o", str(disk.out / "part-{shard}.txt")]
    else:
        (disk.out / "out.txt").write_bytes(PRECIOUS)
        dst = ["-o", str(disk.out / "out.txt")]
    mem = "64K" if piped else "1M"
    argv = [*shuf_big_cmd, *([] if piped else [str(source)]), "--mem", mem, "--seed", "3", *dst]
    before, used = disk.tree(), disk.used()
    feeder = subprocess.Popen(["head", "-c", str(MiB), str(source)], stdout=subprocess.PIPE) if piped else None
    try:
        proc = stopped_at(phase, argv, _env(disk), stdin=feeder.stdout if feeder else subprocess.DEVNULL)
        temp_sizes = nameless_files(proc.pid, disk.tmp)
        out_sizes = nameless_files(proc.pid, disk.out)
        assert disk.tree() == before  # nothing has a name while it runs
        if phase == "pass 1 started":
            assert temp_sizes and out_sizes == [0]
        elif phase in ("pass 1 done", "bucket split"):
            assert sum(temp_sizes) >= (ROWS * 8 if phase == "pass 1 done" else MiB // 2)
        elif phase == "pass 2 started":
            assert len(out_sizes) == 1 and out_sizes[0] > 0
        else:
            assert sorted(out_sizes) == sorted(((s + 1) * ROWS // 3 - s * ROWS // 3) * 8 for s in range(3))
        if disk.mounted:
            assert disk.used() >= used + (sum(temp_sizes) + sum(out_sizes)) // 2
        _kill(proc)
    finally:
        if feeder is not None:
            feeder.kill()
            feeder.wait()
    assert disk.tree() == before
    if disk.mounted:
        assert disk.used() == used


def test_sigkill_between_shard_commits(shuf_big_cmd: list[str], source: Path, disk: Disk) -> None:
    """Shards are committed one by one: killed after the first, that shard is complete,
    the others are as they were, and nothing else is left."""
    (disk.out / "part-1.txt").write_bytes(PRECIOUS)
    before, used = disk.tree(), disk.used()
    argv = [*shuf_big_cmd, str(source), "--mem", "1M", "--shards", "3", "-o", str(disk.out / "part-{shard}.txt")]
    _kill(stopped_at("shard committed", argv, _env(disk)))
    after = disk.tree()
    shard0 = after.pop("out/part-0.txt")
    assert after == before
    assert shard0 is not None and shard0.endswith(b"\n")
    records = shard0.splitlines()
    assert len(records) == len(set(records)) == ROWS // 3
    assert set(records) <= set(source.read_bytes().splitlines())
    if disk.mounted:
        st = os.statvfs(disk.root)
        assert disk.used() == used + (disk.out / "part-0.txt").stat().st_blocks * 512 // st.f_frsize * st.f_frsize


# -- file systems without O_TMPFILE: named files ------------------------------------------------


def test_named_fallback_cleaned_on_exit_and_reaped_after_sigkill(
    shuf_big_cmd: list[str], source: Path, tmp_path: Path
) -> None:
    tmp, out = tmp_path / "tmp", tmp_path / "out.txt"
    tmp.mkdir()
    out.write_bytes(PRECIOUS)
    argv = [*shuf_big_cmd, str(source), "--mem", "1M", "-T", str(tmp), "-o", str(out)]
    env = {**os.environ, NAMED_ENV: "1"}
    env.pop(STOP_ENV, None)
    host = socket.gethostname()

    # Named while it runs, all removed when it ends.
    proc = stopped_at("pass 2 started", argv, env)
    [private] = os.listdir(tmp)
    assert private.startswith(f"shuf-big-{host}-{proc.pid}-")
    assert any(name.endswith(".rec") for name in os.listdir(tmp / private))
    [hidden] = [p.name for p in tmp_path.glob(".out.txt.*.shuf-big.tmp")]
    assert hidden.startswith(f".out.txt.{host}-{proc.pid}-")
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert os.listdir(tmp) == []
    assert not list(tmp_path.glob(".*.shuf-big.tmp"))
    result = out.read_bytes()
    assert sorted_records(result) == sorted_records(source.read_bytes())

    # Killed: the names stay (only the process knew them)...
    proc = stopped_at("pass 2 started", [*argv, "--seed", "9"], env)
    _kill(proc)
    assert [p.startswith(f"shuf-big-{host}-{proc.pid}-") for p in os.listdir(tmp)] == [True]
    assert len(list(tmp_path.glob(f".out.txt.{host}-{proc.pid}-*.shuf-big.tmp"))) == 1
    assert out.read_bytes() == result

    # ... until the next run on this host reaps them.
    again = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert os.listdir(tmp) == []
    assert not list(tmp_path.glob(".*.shuf-big.tmp"))


@pytest.mark.parametrize("code", [errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL], ids=errno.errorcode.get)
def test_file_system_refusing_o_tmpfile_gets_named_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """What NFS, some FUSE file systems and old kernels answer to ``open(O_TMPFILE)``."""
    real_open = os.open

    def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args, **kwargs)

    named: list[str] = []
    for name in ("mkdtemp", "mkstemp"):
        real = getattr(tempfile, name)

        def spy(*args: Any, real: Any = real, **kwargs: Any) -> Any:
            made = real(*args, **kwargs)
            named.append(made if isinstance(made, str) else made[1])
            return made

        monkeypatch.setattr(tempfile, name, spy)
    monkeypatch.setattr(os, "open", refusing)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(numbered_rows(0, 20_000))
    dst.write_bytes(PRECIOUS)
    shuf_big.shuffle(str(src), str(dst), mem="64K", tmp_dirs=[str(tmp)], seed=1)
    assert sorted_records(dst.read_bytes()) == sorted_records(src.read_bytes())
    assert sorted(os.path.dirname(p) for p in named) == [str(tmp_path), str(tmp)]  # the output; the bucket dir
    assert os.listdir(tmp) == []
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.txt", "tmp"]


@pytest.mark.parametrize("existing", [True, False], ids=["replaces", "new"])
def test_output_is_copied_into_place_where_proc_refuses_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """A restricted /proc may refuse ``linkat`` on /proc/self/fd: the finished output is
    then copied to a hidden file and renamed into place, keeping the mode it would have."""
    real_link = os.link

    def refusing(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("src_dir_fd") is not None:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), src)
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", refusing)
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(numbered_rows(0, 20_000))
    if existing:
        dst.write_bytes(PRECIOUS)
        dst.chmod(0o640)
    shuf_big.shuffle(str(src), str(dst), mem="64K", tmp_dirs=[str(tmp_path)], seed=1)
    assert sorted_records(dst.read_bytes()) == sorted_records(src.read_bytes())
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.txt"]
    if existing:
        assert dst.stat().st_mode & 0o777 == 0o640
