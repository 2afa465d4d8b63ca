"""Disks that fill up, with real errors: ENOSPC on a size-limited tmpfs in pass 1, in
pass 2 and on the output's file system; /dev/full; RLIMIT_FSIZE (EFBIG) on bucket files,
the output and standard output; and the free-space check that fails before anything is
written.  Each time: status 1, one ``shuf-big: ...`` line naming where the write failed
(after the warning a temp dir in RAM draws),
an existing ``-o`` untouched and no temp files or partial outputs left.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    PRECIOUS,
    MiB,
    ShufBig,
    after_ram_warning,
    assert_one_error_line,
    file_digest,
    numbered_lines,
    numbered_rows,
    write_numbered,
)


def _file_size_limit(limit: int, sigxfsz: signal.Handlers = signal.SIG_IGN) -> Callable[[], None]:
    """In the child: a file size limit of ``limit`` bytes.  With SIGXFSZ ignored (the
    default here) writes past it fail with EFBIG instead of raising SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, sigxfsz)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


# -- the temp file system fills (real ENOSPC on a size-limited tmpfs) -----------------------


def test_temp_space_runs_out_in_pass_1(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    """A stream of unknown size cannot be checked for space first: the bucket writes fail."""
    small = mount_tmpfs("small", 1 * MiB)
    data = numbered_rows(0, 500_000)  # 4 MB through a pipe into a 1 MB temp file system
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = sb.run("--mem", "256K", "-T", small, "-o", out, "--progress", input=data)
    assert proc.returncode == 1
    lines = proc.stderr.decode().replace("\r", "\n").strip().splitlines()
    assert "pass 2/2" not in proc.stderr.decode()
    assert lines[-1].startswith(f"shuf-big: write error in temporary directory '{small}"), lines[-1]
    assert lines[-1].endswith(": No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(small) == []
    assert sb.leftovers(small) == []
    quiet = sb.run("--mem", "256K", "-T", small, "-o", out, input=data)
    assert quiet.returncode == 1
    assert_one_error_line(
        after_ram_warning(quiet.stderr, small), "write error in temporary directory", "No space left on device"
    )
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers(small) == []


def test_temp_space_runs_out_in_pass_2(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    """Pass 1 fits, then splitting an oversized bucket in pass 2 needs more temp space.

    A pipe at --mem 64K gets 2 buckets in pass 1 (about 1.25x the input with the index
    gaps); pass 2 must split the first one while both still exist, needing ~1.9x the
    input; a temp file system of 1.6x the input fits pass 1 and not the split.
    """
    data = numbered_rows(0, 128 * 1024)  # 1 MiB
    temp = mount_tmpfs("temp", int(1.6 * len(data)))
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    shown = sb.run("--mem", "64K", "-j", "1", "-T", temp, "-o", out, "--progress", input=data)
    stderr = shown.stderr.decode().replace("\r", "\n")
    assert shown.returncode == 1
    assert "pass 2/2" in stderr  # pass 1 completed
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"shuf-big: write error in temporary directory '{temp}"), last
    assert last.endswith(": No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(temp) == []
    quiet = sb.run("--mem", "64K", "-j", "1", "-T", temp, "-o", out, input=data)
    assert quiet.returncode == 1
    assert_one_error_line(
        after_ram_warning(quiet.stderr, temp), "write error in temporary directory", "No space left on device"
    )
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(temp) == []
    assert sb.leftovers(temp) == []


@pytest.mark.parametrize("to_file", [True, False], ids=["output-file", "stdout"])
def test_not_enough_temp_space_fails_before_writing(
    sb: ShufBig, big20: Path, tmp_path: Path, mount_tmpfs, to_file: bool
) -> None:
    tiny_tmpfs = mount_tmpfs("tiny", MiB)
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    args = ["-o", out] if to_file else []
    proc = sb.run(big20, "--mem", "64K", "-T", tiny_tmpfs, *args)
    assert proc.returncode == 1
    assert_one_error_line(after_ram_warning(proc.stderr, tiny_tmpfs), "not enough space", str(tiny_tmpfs))
    assert proc.stdout == b""
    assert os.listdir(tiny_tmpfs) == []
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == []


# -- the output cannot take the bytes --------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "256K"], ids=["in-memory", "external"])
def test_output_file_system_fills_while_writing(sb: ShufBig, tmp_path: Path, mount_tmpfs, mem: str) -> None:
    """Through a pipe, whose size is not known in advance (for a file, the run fails before
    writing: tests/test_fail_early.py)."""
    small = mount_tmpfs("small", 1 * MiB)
    out = small / "out.txt"
    out.write_bytes(PRECIOUS)
    src = write_numbered(tmp_path / "in.txt", 500_000)  # 4 MB
    before = file_digest(src)
    proc = sb.run("--mem", "1G" if mem == "1G" else "256K", "-o", out, input=src.read_bytes())
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, f"write error on '{out}': No space left on device")
    assert proc.stdout == b""
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(small) == ["out.txt"]  # the hidden partial output is gone, its space freed
    assert file_digest(src) == before
    assert sb.leftovers(small) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
@pytest.mark.parametrize("how", ["-o", "stdout"])
def test_writing_to_dev_full(sb: ShufBig, tmp_path: Path, mem: str, how: str) -> None:
    src = write_numbered(tmp_path / "in.txt", 125_000)  # 1 MB
    if how == "-o":
        proc = sb.run(src, "--mem", mem, "-o", "/dev/full")
        assert_one_error_line(proc.stderr, "write error on '/dev/full': No space left on device")
    else:
        with open("/dev/full", "wb") as full:
            proc = sb.run(src, "--mem", mem, stdout=full)
        assert_one_error_line(proc.stderr, "write error on standard output: No space left on device")
    assert proc.returncode == 1
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert sb.leftovers() == []
    assert not [name for name in os.listdir("/dev") if name.endswith(".shuf-big.tmp")]


# -- RLIMIT_FSIZE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mem", "where"),
    [("64K", "temporary directory"), ("1G", "out.txt")],
    ids=["bucket-files", "output-file"],
)
def test_write_error_mid_run(sb: ShufBig, tmp_path: Path, mem: str, where: str) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(numbered_lines(2_000_000))
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = sb.run(data, "--mem", mem, "-o", out, preexec_fn=_file_size_limit(200_000))
    assert proc.returncode == 1
    text = assert_one_error_line(proc.stderr, where)
    assert "write error" in text or "File too large" in text
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == []


def test_write_error_on_stdout(sb: ShufBig, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(numbered_lines(2_000_000))
    sink = tmp_path / "sink.txt"
    with sink.open("wb") as stdout:
        proc = sb.run(data, "--mem", "1G", stdout=stdout, preexec_fn=_file_size_limit(200_000))
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "write error on standard output", "File too large")
    assert sink.stat().st_size <= 200_000
    assert sb.leftovers() == []


def test_file_size_limit_mid_pass_1_with_sigxfsz_default(sb: ShufBig, tmp_path: Path) -> None:
    """With SIGXFSZ at its default action a write past RLIMIT_FSIZE would kill the process;
    Python ignores SIGXFSZ, so shuf-big gets EFBIG and reports it."""
    src = write_numbered(tmp_path / "in.txt", 250_000)
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = sb.run(src, "--mem", "64K", "-o", out, preexec_fn=_file_size_limit(100_000, signal.SIG_DFL))
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "write error in temporary directory", "File too large")
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == []
