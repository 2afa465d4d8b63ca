"""When progress shows, and how: never on the terminal the output goes to; plain lines in logs."""

from __future__ import annotations

import fcntl
import gzip
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
            [*cmd, "--seed", "1", *args],
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
    assert b"reading standard input: " in shown and b"shuffling: " in shown and b"iB/s" in shown and b"\r" in shown
    assert sorted(output.splitlines()) == sorted(DATA.splitlines())


def test_no_bar_when_the_output_is_that_terminal(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """``alias shuf=shuf-big`` at a prompt: the lines alone, no bar glued to them."""
    shown, _ = _run_on_pty(shuf_big_cmd, "terminal", tmp=tmp_path)
    assert b"shuffling" not in shown and b"%" not in shown
    assert sorted(shown.replace(b"\r\n", b"\n").splitlines()) == sorted(DATA.splitlines())


def test_forced_and_silenced(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    forced, _ = _run_on_pty(shuf_big_cmd, "terminal", "--progress", tmp=tmp_path)
    assert b"shuffling: " in forced
    for flag in ("--no-progress", "-q"):
        shown, output = _run_on_pty(shuf_big_cmd, "file", flag, tmp=tmp_path)
        assert shown == b""
        assert sorted(output.splitlines()) == sorted(DATA.splitlines())


def _log(cmd: list[str], tmp_path: Path, *args: str, stdin: bytes = b"") -> list[str]:
    log = tmp_path / "job.log"
    with open(log, "wb") as err:
        subprocess.run([*cmd, "--progress", *args], input=stdin, stderr=err, stdout=subprocess.DEVNULL, check=True)
    text = log.read_bytes()
    assert b"\r" not in text
    return text.decode().splitlines()


def test_log_mode_one_bar_over_both_passes(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """``--progress 2>job.log``: plain lines, one bar whose total is both passes, an overall ETA."""
    src = tmp_path / "in.txt"
    src.write_bytes(DATA * 10)
    lines = _log(shuf_big_cmd, tmp_path, "--mem", "32K", str(src), "-o", str(tmp_path / "out"))
    total = f"of {len(DATA) * 20 / 1024:.1f}KiB"  # the input's bytes, once per pass
    assert lines[0].startswith(f"pass 1/2: scatter '{src}':  50% ") and total in lines[0], lines
    assert lines[-1].startswith("pass 2/2: order: 100% ") and total in lines[-1], lines
    assert all("ETA" in line and "iB/s" in line for line in lines)
    assert len(lines) <= 3  # the end of each step, not a redraw every 0.1 s


def test_compressed_input_advances_by_compressed_bytes(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    src = tmp_path / "in.txt.gz"
    src.write_bytes(gzip.compress(DATA * 15))
    lines = _log(shuf_big_cmd, tmp_path, "--mem", "32K", str(src), "-o", str(tmp_path / "out"))
    size = 2 * src.stat().st_size  # on disk, once per pass: an ETA from the start
    assert f"of {size / 1024:.2f}KiB" in lines[-1] or f"of {size / 1024:.1f}KiB" in lines[-1], lines
    assert lines[-1].startswith("pass 2/2: order: 100%")


def test_stdin_of_unknown_size_shows_bytes_and_rate(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    lines = _log(shuf_big_cmd, tmp_path, "--mem", "32K", stdin=DATA * 10)
    assert lines and all("%" not in line and "iB/s" in line for line in lines), lines
    assert lines[0].startswith("reading standard input") or lines[0].startswith("pass 1/2: scatter standard input")
