"""When progress shows, and how: never on the terminal the output goes to; plain lines in logs."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

DATA = b"".join(b"%05d\n" % i for i in range(300))


def _run_on_pty(cmd: list[str], stdout: str, *args: str, tmp: Path) -> tuple[bytes, bytes]:
    """Run with stderr on a fresh pseudo-terminal and stdout on it too, a file or a pipe:
    (what the terminal shows, the stdout bytes when they went elsewhere)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    out_file = tmp / "stdout"
    with open(out_file, "wb") as sink:
        target: int | object = slave if stdout == "terminal" else sink if stdout == "file" else subprocess.PIPE
        proc = subprocess.Popen(
            [*cmd, "--seed", "1", "--mem", "16K", *args],
            stdin=subprocess.PIPE,
            stdout=target,  # type: ignore[arg-type]
            stderr=slave,
        )
        piped, _ = proc.communicate(DATA)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.returncode == 0, shown
    return shown, piped if stdout == "pipe" else out_file.read_bytes()


@pytest.mark.parametrize("stdout", ["file", "pipe"])
def test_bar_on_the_terminal_when_the_output_goes_elsewhere(
    shuf_big_cmd: list[str], tmp_path: Path, stdout: str
) -> None:
    shown, output = _run_on_pty(shuf_big_cmd, stdout, tmp=tmp_path)
    assert b"pass 1/2" in shown and b"iB" in shown and b"\r" in shown
    assert sorted(output.splitlines()) == sorted(DATA.splitlines())


def test_no_bar_when_the_output_is_that_terminal(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """``alias shuf=shuf-big`` at a prompt: the lines alone, no bar glued to them."""
    shown, _ = _run_on_pty(shuf_big_cmd, "terminal", tmp=tmp_path)
    assert b"pass" not in shown and b"%" not in shown
    assert sorted(shown.replace(b"\r\n", b"\n").splitlines()) == sorted(DATA.splitlines())


def test_forced_and_silenced(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    forced, _ = _run_on_pty(shuf_big_cmd, "terminal", "--progress", tmp=tmp_path)
    assert b"pass 1/2" in forced
    for flag in ("--no-progress", "-q"):
        shown, output = _run_on_pty(shuf_big_cmd, "file", flag, tmp=tmp_path)
        assert shown == b""
        assert sorted(output.splitlines()) == sorted(DATA.splitlines())


def test_log_mode_writes_plain_lines(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """``--progress 2>job.log``: whole lines with done/total, rate and ETA, no carriage return."""
    log = tmp_path / "job.log"
    with open(log, "wb") as err:
        subprocess.run(
            [*shuf_big_cmd, "--progress", "--mem", "16K", "-o", str(tmp_path / "out")],
            input=DATA,
            stderr=err,
            check=True,
        )
    text = log.read_bytes()
    assert b"\r" not in text
    lines = text.decode().splitlines()
    assert any(line.startswith("pass 1/2") for line in lines) and any(line.startswith("pass 2/2") for line in lines)
    ends = [line for line in lines if line.startswith("pass 2/2") and "100%" in line]
    assert ends and "ETA" in ends[-1] and "iB/s" in ends[-1] and " of " in ends[-1], lines
    assert len(lines) <= 6  # a start and an end line per pass, not a redraw every 0.1 s
