"""Helpers shared by the test files that run the command: data, records, messages, signals,
the command runner and what a run leaves behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shuf_big.system.signals import STOP_ENV

MiB = 1 << 20
PRECIOUS = b"precious existing content\nkeep me\n"


# -- data ------------------------------------------------------------------------------------


def numbered_rows(start: int, count: int) -> bytes:
    """Distinct fixed-width lines ``0000000\\n``, ``0000001\\n``... (8 bytes each), built with numpy."""
    idx = np.arange(start, start + count, dtype=np.int64)
    rows = np.empty((count, 8), dtype=np.uint8)
    rows[:, :7] = (idx[:, None] // 10 ** np.arange(6, -1, -1)) % 10 + ord("0")
    rows[:, 7] = ord("\n")
    return rows.tobytes()


def numbered_lines(nbytes: int) -> bytes:
    """Distinct fixed-width lines ``0000000\\n``, ``0000001\\n``... about ``nbytes`` long."""
    return numbered_rows(0, nbytes // 8)


def write_numbered(path: Path, count: int) -> Path:
    """Write ``count`` numbered lines in 1 MiB-row chunks, so a 50 MB input costs little memory."""
    with path.open("wb") as f:
        for start in range(0, count, MiB):
            f.write(numbered_rows(start, min(MiB, count - start)))
    return path


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


def seq(n: int) -> bytes:
    """The output of ``seq n``."""
    return b"".join(b"%d\n" % i for i in range(1, n + 1))


def file_digest(path: Path) -> str:
    """A digest of a file read in chunks (inputs must come out of a run untouched)."""
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


# -- what a run printed ------------------------------------------------------------------------


def sorted_records(blob: bytes, sep: bytes = b"\n") -> list[bytes]:
    """The sorted records of an output, which must end with ``sep`` unless empty."""
    if not blob:
        return []
    assert blob.endswith(sep), f"output does not end with {sep!r}: ...{blob[-20:]!r}"
    return sorted(blob[: -len(sep)].split(sep))


def assert_one_error_line(stderr: bytes, *needles: str) -> str:
    """GNU style: exactly one line ``shuf-big: <message>``, no traceback."""
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    assert text.startswith("shuf-big: "), text
    assert text.endswith("\n") and text.count("\n") == 1, f"expected one line, got {text!r}"
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text


def after_ram_warning(stderr: bytes, where: Path) -> bytes:
    """What follows the one warning line a temp dir in RAM draws (checked to come first)."""
    first, _, rest = stderr.partition(b"\n")
    warning = f"shuf-big: warning: temporary directory '{where}' is in RAM (tmpfs): its files will take "
    assert first.decode().startswith(warning), first
    assert b"is in RAM" not in rest, rest
    return rest


# -- processes and signals ---------------------------------------------------------------------


def default_signals() -> None:
    """In a child before exec: SIGINT and SIGHUP at their default action.

    A child inherits ignored signals, and shuf-big keeps them ignored (as coreutils do):
    under ``nohup`` or in a background job of a script the suite's own SIGINT/SIGHUP
    would otherwise be ignored by the command under test.
    """
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def wait_until(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll a file-system or /proc condition (no sleeping as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"shuf-big exited (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def stopped_at(
    phase: str, argv: list[str], env: dict[str, str], stdin: Any = subprocess.DEVNULL, timeout: float = 120
) -> subprocess.Popen[bytes]:
    """Start the command and wait until it has stopped itself at ``phase`` (the run's test hook,
    ``SHUF_BIG_STOP_AT``): a blocking wait for the stop, with a watchdog that kills it at the deadline."""
    proc = subprocess.Popen(
        argv, env={**env, STOP_ENV: phase}, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
    finally:
        watchdog.cancel()
    if os.WIFSTOPPED(status):
        return proc
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    pytest.fail(f"exited with {proc.returncode} before {phase!r}: {proc.stderr.read().decode()[-2000:]}")


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Kill and wait for ``proc`` on the way out if the test left it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_offset(pid: int, path: Path) -> int | None:
    """The file offset of ``pid``'s descriptor open on ``path`` (from /proc/PID/fdinfo)."""
    target = str(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return None


# -- files a run leaves ------------------------------------------------------------------------


def hidden_outputs(folder: Path, name: str) -> list[Path]:
    """The hidden partial outputs ``.NAME.*.shuf-big.tmp`` of an ``-o folder/NAME`` run."""
    return list(folder.glob(f".{name}.*.shuf-big.tmp"))


def nameless_files(pid: int, folder: Path) -> list[int]:
    """The sizes of the nameless temp files (``O_TMPFILE``) that ``pid`` holds open in
    ``folder`` itself: /proc shows them as ``FOLDER/#INODE (deleted)``."""
    sizes = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                head, tail = os.path.split(link)
                if head == str(folder) and tail.startswith("#") and tail.endswith(" (deleted)"):
                    sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
            except OSError:
                continue
    return sizes


def hidden_output_size(folder: Path, name: str, pid: int | None = None) -> int:
    """The size of the largest hidden partial output (0 if none): pass 2's progress.

    With ``pid``, the nameless output files that process holds in ``folder`` count too.
    """
    size = max(nameless_files(pid, folder), default=0) if pid is not None else 0
    for path in hidden_outputs(folder, name):
        with contextlib.suppress(FileNotFoundError):
            size = max(size, path.stat().st_size)
    return size


def open_temp_files(pid: int, folder: Path) -> list[str]:
    """What ``pid`` holds open under ``folder``: named temp files and nameless ones."""
    found = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith(f"{folder}/"):
                    found.append(link)
    return found


class ShufBig:
    """Runs the console script with ``TMPDIR`` set to a private, initially empty folder,
    and lists what a run left behind."""

    def __init__(self, cmd: list[str], tmp_path: Path) -> None:
        self.cmd = cmd
        self.tmp_path = tmp_path
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir)}

    def argv(self, *args: object) -> list[str]:
        return [*self.cmd, *map(str, args)]

    def run(self, *args: object, input: bytes | None = None, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("timeout", 180)
        if input is None:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.argv(*args), input=input, **kwargs)  # type: ignore[call-overload]

    def popen(self, *args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("preexec_fn", default_signals)
        return subprocess.Popen(self.argv(*args), env=self.env, **kwargs)  # type: ignore[call-overload]

    def temp_dirs(self) -> list[str]:
        """The ``shuf-big-*`` temp dirs in TMPDIR."""
        return sorted(p.name for p in self.tmpdir.iterdir() if p.name.startswith("shuf-big-"))

    def leftovers(self, *folders: Path) -> list[str]:
        """``shuf-big-*`` temp dirs and ``.*.shuf-big.tmp`` partial outputs in TMPDIR, tmp_path
        and every folder given."""
        found = []
        for folder in {self.tmpdir, self.tmp_path, *folders}:
            found += [p.name for p in folder.iterdir() if p.name.startswith("shuf-big-")]
            found += [p.name for p in folder.iterdir() if p.name.endswith(".shuf-big.tmp")]
        return sorted(found)


def try_mount_tmpfs(where: Path, size: int) -> str | None:
    """Mount a tmpfs of ``size`` bytes on ``where``; None, or why it could not be done."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a size-limited tmpfs needs root and mount(8)"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        return f"the kernel does not let us mount a tmpfs: {done.stderr.decode(errors='replace').strip()}"
    return None
