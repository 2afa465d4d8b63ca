"""``-o /dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, devices and FIFOs are written in place, as GNU shuf does."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

DATA = b"".join(b"line %d\n" % i for i in range(200))


def _run(cmd: list[str], *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*cmd, "--seed", "5", *args], input=DATA, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def expected(shuf_big_cmd: list[str]) -> bytes:
    return _run(shuf_big_cmd).stdout


@pytest.mark.parametrize("path", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_dev_stdout_on_a_pipe(shuf_big_cmd: list[str], expected: bytes, path: str) -> None:
    result = _run(shuf_big_cmd, "-o", path)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == expected


def test_dev_stderr_and_fd_n(shuf_big_cmd: list[str], expected: bytes) -> None:
    result = _run(shuf_big_cmd, "-o", "/dev/stderr")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", expected)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [*shuf_big_cmd, "--seed", "5", "-o", f"/dev/fd/{write_end}"], stdin=subprocess.PIPE, pass_fds=(write_end,)
    )
    os.close(write_end)
    proc.communicate(DATA)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.read() == expected
    assert proc.returncode == 0


def test_dev_stdout_appends_to_a_file_opened_by_the_shell(
    shuf_big_cmd: list[str], expected: bytes, tmp_path: Path
) -> None:
    """``>> log`` keeps what the file had: the descriptor is written, not the file replaced."""
    log = tmp_path / "log"
    log.write_bytes(b"kept\n")
    with open(log, "ab") as out:
        result = subprocess.run(
            [*shuf_big_cmd, "--seed", "5", "-o", "/dev/stdout"],
            input=DATA,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert log.read_bytes() == b"kept\n" + expected
    assert sorted(os.listdir(tmp_path)) == ["log"]


def test_fifo_written_in_place(shuf_big_cmd: list[str], expected: bytes, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = _run(shuf_big_cmd, "-o", str(fifo))
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert got == [expected]
    assert os.listdir(tmp_path) == ["out.fifo"]  # no temp file beside it


def test_gnu_shuf_agrees_on_dev_stdout(shuf_big_cmd: list[str]) -> None:
    """Both write to the pipe: the same lines come out."""
    ours = _run(shuf_big_cmd, "-o", "/dev/stdout")
    gnu = subprocess.run(["shuf", "-o", "/dev/stdout"], input=DATA, capture_output=True, check=False)
    assert (ours.returncode, gnu.returncode) == (0, 0)
    assert sorted(ours.stdout.splitlines()) == sorted(gnu.stdout.splitlines()) == sorted(DATA.splitlines())
