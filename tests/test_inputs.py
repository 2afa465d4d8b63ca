"""Inputs as a user gives them: files that are missing, unreadable or directories; FIFOs,
process substitution, /dev/null and standard input (also left at an offset by an earlier
reader); a file that shrinks while being read.  Every case runs the installed command and
checks the status, the one-line message, the output and that nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import (
    PRECIOUS,
    ShufBig,
    assert_one_error_line,
    numbered_rows,
    read_offset,
    reaped,
    seq,
    sorted_records,
    wait_until,
    write_numbered,
)

# -- inputs that cannot be read ---------------------------------------------------------------


def test_missing_input_file(sb: ShufBig) -> None:
    proc = sb.run("nope.txt", cwd=sb.tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == b"shuf-big: cannot open 'nope.txt': No such file or directory\n"
    assert proc.stdout == b""
    assert sb.leftovers() == []


def test_directory_as_input(sb: ShufBig, tmp_path: Path) -> None:
    proc = sb.run(tmp_path)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "Is a directory", str(tmp_path))
    assert proc.stdout == b""


def test_unreadable_input(sb: ShufBig, small_file: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root from reading the file")
    small_file.chmod(0)
    try:
        proc = sb.run(small_file)
    finally:
        small_file.chmod(0o644)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "Permission denied", str(small_file))


# -- inputs that are not regular files ----------------------------------------------------------


@pytest.mark.parametrize("source", ["fifo", "process substitution"])
def test_inputs_that_are_not_regular_files(shuf_big_cmd: list[str], tmp_path: Path, source: str) -> None:
    data = b"".join(b"%d\n" % i for i in range(200_000))
    (tmp_path / "data.txt").write_bytes(data)
    if source == "fifo":
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        script = f"cat {tmp_path / 'data.txt'} > {fifo} & {' '.join(shuf_big_cmd)} {fifo} --mem 64K --seed 9"
    else:
        script = f"{' '.join(shuf_big_cmd)} <(cat {tmp_path / 'data.txt'}) --mem 64K --seed 9"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    direct = subprocess.run(
        [*shuf_big_cmd, str(tmp_path / "data.txt"), "--mem", "64K", "--seed", "9"], capture_output=True
    )
    assert proc.stdout == direct.stdout
    assert sorted(proc.stdout.splitlines()) == sorted(data.splitlines())


@pytest.mark.parametrize("how", ["path", "stdin"])
def test_dev_null_input_gives_empty_output(sb: ShufBig, tmp_path: Path, how: str) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    if how == "path":
        proc = sb.run("/dev/null", "-o", out, "--mem", "64K")
    else:
        with open("/dev/null", "rb") as null:
            proc = sb.run("-o", out, "--mem", "64K", stdin=null)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert out.read_bytes() == b""  # the shuffle of nothing replaces the file
    assert sb.leftovers() == []


# -- standard input -----------------------------------------------------------------------------


def test_stdin_file_and_any_mem_give_the_same_bytes(sb: ShufBig, tmp_path: Path) -> None:
    data = seq(100000)
    path = tmp_path / "seq.txt"
    path.write_bytes(data)
    piped = sb.run("--mem", "64K", "--seed", "5", input=data)
    from_file = sb.run(path, "--mem", "64K", "--seed", "5")
    in_memory = sb.run(path, "--mem", "1G", "--seed", "5")
    piped_in_memory = sb.run("-", "--mem", "1G", "--seed", "5", input=data)  # "-" is stdin too
    for proc in (piped, from_file, in_memory, piped_in_memory):
        assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted_records(piped.stdout) == sorted_records(data)
    assert piped.stdout != data
    assert piped.stdout == from_file.stdout == in_memory.stdout == piped_in_memory.stdout
    other_seed = sb.run(path, "--mem", "1G", "--seed", "6")
    assert other_seed.stdout != in_memory.stdout
    assert sb.leftovers() == []


def test_stdin_redirected_from_a_file_at_an_offset(sb: ShufBig, tmp_path: Path) -> None:
    """``{ head -c N >/dev/null; shuf-big; } < file`` shuffles the rest of the file, also when
    the input fits --mem but its records' arrays do not and it is read a second time."""
    data = numbered_rows(0, 20_000)  # 160 KB of 8-byte lines: fits --mem 256K, ordering them does not
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    skip = 8 * 5000
    with src.open("rb") as stdin:
        stdin.seek(skip)
        proc = sb.run("--mem", "256K", stdin=stdin)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted_records(proc.stdout) == sorted_records(data[skip:])
    assert sb.leftovers() == []


# -- inputs that change while being read --------------------------------------------------------


@pytest.mark.parametrize("cut", ["below", "above"], ids=["cut-below-read-offset", "cut-above-read-offset"])
def test_input_that_shrinks_while_read_is_an_error(sb: ShufBig, tmp_path: Path, cut: str) -> None:
    """Truncated by another process during pass 1: a clear error, nothing written.

    The run is frozen with SIGSTOP once pass 1 is under way, so that where the file is cut
    relative to what was already read is known, not a race: below the read offset, or
    above it but short of the original size.  (Before this was checked, the run ended
    with status 0 and an output of the part it read, its last record cut off.)
    """
    src = write_numbered(tmp_path / "in.txt", 3_000_000)
    size = src.stat().st_size
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    err = tmp_path / "stderr.txt"
    with err.open("wb") as stderr:
        proc = sb.popen(src, "--mem", "4M", "-o", out, stdout=subprocess.DEVNULL, stderr=stderr)
    with reaped(proc):
        wait_until(proc, lambda: (read_offset(proc.pid, src) or 0) >= size // 5, "pass 1 read a fifth of the input")
        proc.send_signal(signal.SIGSTOP)
        offset = read_offset(proc.pid, src)
        assert offset is not None and offset < size, "pass 1 already finished reading"
        new_size = offset // 2 + 3 if cut == "below" else (offset + size) // 2 + 3  # mid-record
        os.truncate(src, new_size)
        proc.send_signal(signal.SIGCONT)
        returncode = proc.wait(timeout=120)
    assert returncode == 1
    assert_one_error_line(err.read_bytes(), f"'{src}' shrank while being read: {size} bytes at the start, only ")
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == []
