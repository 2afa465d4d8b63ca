"""Signals: SIGINT, SIGTERM and SIGHUP at several points of both passes (death by the
signal, no message, temp files and partial output removed, an existing ``-o`` untouched),
shell statuses 130/143, signals that were ignored when the run started, a signal just
after a temp file is created, and readers that go away (SIGPIPE, status 141).

Progress through the passes is observed from outside (bucket files, the input's read
offset in /proc, the size of the partial output: nameless files held open, seen in
/proc, or named ones), never guessed with sleeps.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    PRECIOUS,
    ShufBig,
    default_signals,
    file_digest,
    hidden_output_size,
    hidden_outputs,
    nameless_files,
    numbered_lines,
    read_offset,
    reaped,
    sorted_records,
    wait_until,
    write_numbered,
)

from shuf_big.system.tempfiles import NAMED_ENV

# -- SIGINT, SIGTERM, SIGHUP mid-run ---------------------------------------------------------------


def _bucket_files_exist(sb: ShufBig, pid: int) -> bool:
    """Named bucket files in a private temp dir, or nameless ones held open in TMPDIR."""
    if nameless_files(pid, sb.tmpdir):
        return True
    for name in sb.temp_dirs():
        try:
            if os.listdir(sb.tmpdir / name):
                return True
        except FileNotFoundError:
            pass
    return False


@pytest.mark.parametrize(
    ("signum", "phase", "preexisting", "named"),
    [
        (signal.SIGTERM, "pass1", False, False),
        (signal.SIGTERM, "pass1", True, False),
        (signal.SIGTERM, "pass2", True, False),
        (signal.SIGINT, "pass1", False, False),
        (signal.SIGINT, "pass1", True, False),
        (signal.SIGINT, "pass2", False, False),
        (signal.SIGINT, "pass2", True, False),
        (signal.SIGHUP, "pass1", True, False),
        # Named temp files (file systems without O_TMPFILE): the handler removes them.
        (signal.SIGINT, "pass2", True, True),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else str(v),
)
def test_signal_cleans_up_then_dies_by_it(
    sb: ShufBig, big50: Path, tmp_path: Path, signum: signal.Signals, phase: str, preexisting: bool, named: bool
) -> None:
    if named:
        sb.env[NAMED_ENV] = "1"
    out = tmp_path / "out.txt"
    if preexisting:
        out.write_bytes(PRECIOUS)
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        proc = sb.popen(big50, "--mem", "1M", "-o", out, stdout=subprocess.DEVNULL, stderr=err)
    try:
        if phase == "pass1":
            # The temp dir holding bucket files: pass 1 is under way (test_signal_just_after_
            # creating_a_temp_file covers a signal at the very moment the dir is created).
            wait_until(proc, lambda: _bucket_files_exist(sb, proc.pid), "pass 1 created bucket files")
        else:
            wait_until(proc, lambda: hidden_output_size(tmp_path, "out.txt", proc.pid) > 0, "pass 2 started writing")
        proc.send_signal(signum)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err_path.read_bytes().decode("utf-8", "replace")
    assert (returncode, stderr) == (-signum, "")  # a shell shows 128 + signum; no traceback
    assert sb.temp_dirs() == []
    assert hidden_outputs(tmp_path, "out.txt") == []
    if preexisting:
        assert out.read_bytes() == PRECIOUS
    else:
        assert not out.exists()
    assert sb.leftovers() == []


@pytest.mark.parametrize(
    ("phase", "fraction"),
    [("pass 1", 0.3), ("pass 1", 0.9), ("pass 2", 0.3), ("pass 2", 0.9)],
    ids=["pass1-30%", "pass1-90%", "pass2-30%", "pass2-90%"],
)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_at_several_points(
    sb: ShufBig, input24: Path, tmp_path: Path, signum: signal.Signals, phase: str, fraction: float
) -> None:
    """Pass 1's progress is the input's read offset (/proc/PID/fdinfo); pass 2's is the size
    of the hidden output.  Either way: death by the signal (130/143 in a shell), no message,
    temp dir and partial output removed, the existing -o file untouched."""
    size = input24.stat().st_size
    before = file_digest(input24)
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    err = tmp_path / "stderr.txt"
    with err.open("wb") as stderr:
        proc = sb.popen(input24, "--mem", "4M", "-o", out, stdout=subprocess.DEVNULL, stderr=stderr)
    with reaped(proc):
        if phase == "pass 1":

            def reached() -> bool:
                offset = read_offset(proc.pid, input24)
                started = hidden_output_size(tmp_path, "out.txt", proc.pid)
                return offset is not None and offset >= fraction * size and started == 0
        else:

            def reached() -> bool:
                return hidden_output_size(tmp_path, "out.txt", proc.pid) >= fraction * size

        wait_until(proc, reached, f"{phase} at {fraction:.0%}")
        proc.send_signal(signum)
        returncode = proc.wait(timeout=60)
    assert (returncode, err.read_bytes()) == (-signum, b"")
    assert out.read_bytes() == PRECIOUS
    assert file_digest(input24) == before
    assert sb.leftovers() == []


# -- what a shell sees ---------------------------------------------------------------------------


def test_interrupt_status_in_a_shell_is_128_plus_signal(sb: ShufBig, input24: Path, tmp_path: Path) -> None:
    """What a script sees: 130 for SIGINT, 143 for SIGTERM.  (``set -m``: without job control
    a shell starts background commands with SIGINT ignored, and shuf-big keeps it ignored.)"""
    # Pass 1 is under way once the run holds a temp file in TMPDIR (nameless, or named).
    script = (
        'set -m; "$@" 2>"$ERR" & pid=$!; '
        'until ls -l /proc/$pid/fd 2>/dev/null | grep -q -e "$TMPDIR/#" -e "$TMPDIR/shuf-big-"; do :; done; '
        "kill -$SIG $pid; wait $pid"
    )
    err = tmp_path / "stderr.txt"
    for sig, status in (("INT", 130), ("TERM", 143)):
        proc = subprocess.run(
            ["bash", "-c", script, "bash", *sb.argv(input24, "--mem", "4M", "-o", "/dev/null")],
            env={**sb.env, "SIG": sig, "ERR": str(err)},
            capture_output=True,
            preexec_fn=default_signals,  # bash cannot un-ignore a signal ignored when it started
            timeout=60,
        )
        assert (proc.returncode, err.read_bytes()) == (status, b""), sig
        assert sb.leftovers() == []


# -- signals ignored by the caller ---------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=["SIGHUP", "SIGINT"])
def test_ignored_signal_stays_ignored(sb: ShufBig, tmp_path: Path, signum: signal.Signals) -> None:
    """Under ``nohup`` (SIGHUP ignored) or as a background job of a script (SIGINT ignored)
    the run must survive that signal and complete, as GNU sort does."""
    src = write_numbered(tmp_path / "in.txt", 1_000_000)
    out = tmp_path / "out.txt"

    def ignore() -> None:
        signal.signal(signum, signal.SIG_IGN)

    proc = sb.popen(src, "--mem", "2M", "-o", out, stderr=subprocess.PIPE, preexec_fn=ignore)
    with reaped(proc):
        wait_until(proc, lambda: hidden_output_size(tmp_path, "out.txt", proc.pid) > 0, "pass 2 started writing")
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stderr) == (0, b"")
    assert sorted_records(out.read_bytes()) == sorted_records(src.read_bytes())
    assert sb.leftovers() == []


# -- a signal just after a temp file is created --------------------------------------------------

# A signal can arrive at any instant, including right after the temp dir (or the hidden
# output file) is created and before shuf-big has recorded its name for cleanup.  Polling
# from outside hits that instant only sometimes, so the child injects the signal itself:
# it wraps tempfile's function to send itself the signal just after the creation.  Only
# named temp files have a name to record: the run is forced to use them.
_INJECT = """
import os, signal, sys, tempfile
name, signum = sys.argv[1], int(sys.argv[2])
real = getattr(tempfile, name)
def create_then_signal(*args, **kwargs):
    made = real(*args, **kwargs)
    os.kill(os.getpid(), signum)
    return made
setattr(tempfile, name, create_then_signal)
from shuf_big.cli import main
main(sys.argv[3:])
"""


@pytest.mark.parametrize("function", ["mkdtemp", "mkstemp"])
def test_signal_just_after_creating_a_temp_file(sb: ShufBig, tmp_path: Path, function: str) -> None:
    signum = signal.SIGTERM
    data = tmp_path / "data.txt"
    data.write_bytes(numbered_lines(1_000_000))
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = subprocess.run(
        [sys.executable, "-c", _INJECT, function, str(int(signum)), str(data), "--mem", "64K", "-o", str(out)],
        env={**sb.env, NAMED_ENV: "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert sb.leftovers() == []
    assert out.read_bytes() == PRECIOUS
    assert proc.returncode == -signum, proc.stderr.decode(errors="replace")[-2000:]


# -- a reader that goes away (SIGPIPE) -----------------------------------------------------------


def test_closed_pipe_dies_quietly_by_sigpipe(sb: ShufBig, big20: Path, tmp_path: Path) -> None:
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        proc = sb.popen(big20, "--mem", "1M", stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(first) == 8 and first.endswith(b"\n")
    # no traceback, no "Exception ignored", no message: just death by SIGPIPE (141 in a shell)
    assert (returncode, err_path.read_bytes()) == (-signal.SIGPIPE, b"")
    assert sb.leftovers() == []


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("head") is None, reason="needs bash and head")
def test_closed_pipe_status_in_shell_is_141(sb: ShufBig, big20: Path) -> None:
    script = 'set +o pipefail; "$@" | head -n 1 > /dev/null; echo "${PIPESTATUS[0]}"'
    proc = subprocess.run(
        ["bash", "-c", script, "bash", *sb.cmd, str(big20), "--mem", "1M"],
        capture_output=True,
        env=sb.env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert (proc.stdout, proc.stderr) == (b"141\n", b"")
    assert sb.leftovers() == []


@pytest.mark.parametrize("mem", ["1G", "1M"], ids=["in-memory", "external"])
def test_reader_that_exits_without_reading(sb: ShufBig, input24: Path, mem: str) -> None:
    """``shuf-big big | false``: killed by SIGPIPE (141 in the shell), quiet, temp files removed."""
    script = 'set +o pipefail; "$@" | false; echo "${PIPESTATUS[0]}"'
    proc = subprocess.run(
        ["bash", "-c", script, "bash", *sb.argv(input24, "--mem", mem)],
        env=sb.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert (proc.stdout, proc.stderr) == (b"141\n", b"")
    assert sb.leftovers() == []
