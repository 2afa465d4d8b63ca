"""Fault injection from outside, with real errors: full filesystems, signals at several points
of both passes, readers that go away, inputs that are not regular files or that change while
being read, and records of awkward shapes.

Every scenario runs the installed command in a subprocess and checks what a user sees: the
exit status, a single ``shuf-big: ...`` line on stderr, the ``-o`` file either untouched or
complete, the input untouched, and no ``shuf-big-*`` temp dir or hidden partial output left.
Progress through the passes is observed from outside (bucket files, the input's read offset
in /proc, the size of the hidden output), never guessed with sleeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_error_line as one_error_line
from helpers import default_signals, numbered_rows, sorted_records, wait_until

MiB = 1 << 20
PRECIOUS = b"precious existing content\nkeep me\n"
INTERPRETER_ALLOWANCE = 64 * MiB  # README: peak RSS stays under --mem plus the interpreter's own


# -- helpers -------------------------------------------------------------------------------


def write_numbered(path: Path, count: int) -> Path:
    with path.open("wb") as f:
        for start in range(0, count, MiB):
            f.write(numbered_rows(start, min(MiB, count - start)))
    return path


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


class Runner:
    """The command with ``TMPDIR`` set to a private folder, plus leftover checks."""

    def __init__(self, cmd: list[str], tmp_path: Path) -> None:
        self.cmd = cmd
        self.tmp_path = tmp_path
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir)}

    def argv(self, *args: object) -> list[str]:
        return [*self.cmd, *map(str, args)]

    def run(self, *args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("timeout", 180)
        if "input" not in kwargs:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.argv(*args), **kwargs)  # type: ignore[call-overload]

    def popen(self, *args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("preexec_fn", default_signals)
        return subprocess.Popen(self.argv(*args), env=self.env, **kwargs)  # type: ignore[call-overload]

    def leftovers(self, *folders: Path) -> list[str]:
        """Temp dirs in every folder given (and TMPDIR), hidden partial outputs in them and tmp_path."""
        found = []
        for folder in {self.tmpdir, self.tmp_path, *folders}:
            found += [p.name for p in folder.iterdir() if p.name.startswith("shuf-big-")]
            found += [p.name for p in folder.iterdir() if p.name.endswith(".shuf-big.tmp")]
        return sorted(found)


@pytest.fixture
def runner(shuf_big_cmd: list[str], tmp_path: Path) -> Runner:
    return Runner(shuf_big_cmd, tmp_path)


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
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


def hidden_outputs(folder: Path, name: str) -> list[Path]:
    return list(folder.glob(f".{name}.*.shuf-big.tmp"))


def hidden_output_size(folder: Path, name: str) -> int:
    size = 0
    for path in hidden_outputs(folder, name):
        with contextlib.suppress(FileNotFoundError):
            size = max(size, path.stat().st_size)
    return size


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """Mount size-limited tmpfs file systems (real ENOSPC); skip where the kernel forbids it."""
    mounted: list[Path] = []

    def mount(name: str, size: int) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a size-limited tmpfs needs root and mount(8)")
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"the kernel does not let us mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True)


# -- full file systems (real ENOSPC on a size-limited tmpfs) ---------------------------------


def test_temp_space_runs_out_in_pass_1(runner: Runner, tmp_path: Path, mount_tmpfs) -> None:
    """A stream of unknown size cannot be checked for space first: the bucket writes fail."""
    small = mount_tmpfs("small", 1 * MiB)
    data = numbered_rows(0, 500_000)  # 4 MB through a pipe into a 1 MB temp file system
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = runner.run("--mem", "256K", "-T", small, "-o", out, "--progress", input=data)
    assert proc.returncode == 1
    lines = proc.stderr.decode().replace("\r", "\n").strip().splitlines()
    assert "pass 2/2" not in proc.stderr.decode()
    assert lines[-1].startswith(f"shuf-big: write error in temporary directory '{small}/shuf-big-"), lines[-1]
    assert lines[-1].endswith(": No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(small) == []
    assert runner.leftovers(small) == []
    quiet = runner.run("--mem", "256K", "-T", small, "-o", out, input=data)
    assert quiet.returncode == 1
    one_error_line(quiet.stderr, "write error in temporary directory", "No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert runner.leftovers(small) == []


def test_temp_space_runs_out_in_pass_2(runner: Runner, tmp_path: Path, mount_tmpfs) -> None:
    """Pass 1 fits, then splitting an oversized bucket in pass 2 needs more temp space.

    A pipe at --mem 64K gets 2 buckets in pass 1 (about 1.25x the input with the index
    gaps); pass 2 must split the first one while both still exist, needing ~1.9x the
    input; a temp file system of 1.6x the input fits pass 1 and not the split.
    """
    data = numbered_rows(0, 128 * 1024)  # 1 MiB
    temp = mount_tmpfs("temp", int(1.6 * len(data)))
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    shown = runner.run("--mem", "64K", "-j", "1", "-T", temp, "-o", out, "--progress", input=data)
    stderr = shown.stderr.decode().replace("\r", "\n")
    assert shown.returncode == 1
    assert "pass 2/2" in stderr  # pass 1 completed
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"shuf-big: write error in temporary directory '{temp}/shuf-big-"), last
    assert last.endswith(": No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(temp) == []
    quiet = runner.run("--mem", "64K", "-j", "1", "-T", temp, "-o", out, input=data)
    assert quiet.returncode == 1
    one_error_line(quiet.stderr, "write error in temporary directory", "No space left on device")
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(temp) == []
    assert runner.leftovers(temp) == []


@pytest.mark.parametrize("mem", ["1G", "256K"], ids=["in-memory", "external"])
def test_output_file_system_fills_while_writing(runner: Runner, tmp_path: Path, mount_tmpfs, mem: str) -> None:
    small = mount_tmpfs("small", 1 * MiB)
    out = small / "out.txt"
    out.write_bytes(PRECIOUS)
    src = write_numbered(tmp_path / "in.txt", 500_000)  # 4 MB
    before = file_digest(src)
    proc = runner.run(src, "--mem", "1G" if mem == "1G" else "256K", "-o", out)
    assert proc.returncode == 1
    one_error_line(proc.stderr, f"write error on '{out}': No space left on device")
    assert proc.stdout == b""
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(small) == ["out.txt"]  # the hidden partial output is gone, its space freed
    assert file_digest(src) == before
    assert runner.leftovers(small) == []


# -- signals at several points of both passes ------------------------------------------------


@pytest.fixture(scope="module")
def input24(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 MB of 8-byte lines: about 3 s through both passes at --mem 4M."""
    return write_numbered(tmp_path_factory.mktemp("input24") / "in24.txt", 3_000_000)


@pytest.mark.parametrize(
    ("phase", "fraction"),
    [("pass 1", 0.3), ("pass 1", 0.9), ("pass 2", 0.3), ("pass 2", 0.9)],
    ids=["pass1-30%", "pass1-90%", "pass2-30%", "pass2-90%"],
)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_at_several_points(
    runner: Runner, input24: Path, tmp_path: Path, signum: signal.Signals, phase: str, fraction: float
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
        proc = runner.popen(input24, "--mem", "4M", "-o", out, stdout=subprocess.DEVNULL, stderr=stderr)
    with reaped(proc):
        if phase == "pass 1":

            def reached() -> bool:
                offset = read_offset(proc.pid, input24)
                return offset is not None and offset >= fraction * size and hidden_output_size(tmp_path, "out.txt") == 0
        else:

            def reached() -> bool:
                return hidden_output_size(tmp_path, "out.txt") >= fraction * size

        wait_until(proc, reached, f"{phase} at {fraction:.0%}")
        proc.send_signal(signum)
        returncode = proc.wait(timeout=60)
    assert (returncode, err.read_bytes()) == (-signum, b"")
    assert out.read_bytes() == PRECIOUS
    assert file_digest(input24) == before
    assert runner.leftovers() == []


def test_interrupt_status_in_a_shell_is_128_plus_signal(runner: Runner, input24: Path, tmp_path: Path) -> None:
    """What a script sees: 130 for SIGINT, 143 for SIGTERM.  (``set -m``: without job control
    a shell starts background commands with SIGINT ignored, and shuf-big keeps it ignored.)"""
    script = (
        'set -m; "$@" 2>"$ERR" & pid=$!; '
        'while [ -z "$(ls "$TMPDIR"/shuf-big-*/ 2>/dev/null)" ]; do :; done; kill -$SIG $pid; wait $pid'
    )
    err = tmp_path / "stderr.txt"
    for sig, status in (("INT", 130), ("TERM", 143)):
        proc = subprocess.run(
            ["bash", "-c", script, "bash", *runner.argv(input24, "--mem", "4M", "-o", "/dev/null")],
            env={**runner.env, "SIG": sig, "ERR": str(err)},
            capture_output=True,
            preexec_fn=default_signals,  # bash cannot un-ignore a signal ignored when it started
            timeout=60,
        )
        assert (proc.returncode, err.read_bytes()) == (status, b""), sig
        assert runner.leftovers() == []


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=["SIGHUP", "SIGINT"])
def test_ignored_signal_stays_ignored(runner: Runner, tmp_path: Path, signum: signal.Signals) -> None:
    """Under ``nohup`` (SIGHUP ignored) or as a background job of a script (SIGINT ignored)
    the run must survive that signal and complete, as GNU sort does."""
    src = write_numbered(tmp_path / "in.txt", 1_000_000)
    out = tmp_path / "out.txt"

    def ignore() -> None:
        signal.signal(signum, signal.SIG_IGN)

    proc = runner.popen(src, "--mem", "2M", "-o", out, stderr=subprocess.PIPE, preexec_fn=ignore)
    with reaped(proc):
        wait_until(proc, lambda: hidden_output_size(tmp_path, "out.txt") > 0, "pass 2 started writing")
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stderr) == (0, b"")
    assert sorted_records(out.read_bytes()) == sorted_records(src.read_bytes())
    assert runner.leftovers() == []


# -- readers that go away, outputs that cannot take the bytes --------------------------------


@pytest.mark.parametrize("mem", ["1G", "1M"], ids=["in-memory", "external"])
def test_reader_that_exits_without_reading(runner: Runner, input24: Path, mem: str) -> None:
    """``shuf-big big | false``: killed by SIGPIPE (141 in the shell), quiet, temp files removed."""
    script = 'set +o pipefail; "$@" | false; echo "${PIPESTATUS[0]}"'
    proc = subprocess.run(
        ["bash", "-c", script, "bash", *runner.argv(input24, "--mem", mem)],
        env=runner.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert (proc.stdout, proc.stderr) == (b"141\n", b"")
    assert runner.leftovers() == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
@pytest.mark.parametrize("how", ["-o", "stdout"])
def test_writing_to_dev_full(runner: Runner, tmp_path: Path, mem: str, how: str) -> None:
    src = write_numbered(tmp_path / "in.txt", 125_000)  # 1 MB
    if how == "-o":
        proc = runner.run(src, "--mem", mem, "-o", "/dev/full")
        one_error_line(proc.stderr, "write error on '/dev/full': No space left on device")
    else:
        with open("/dev/full", "wb") as full:
            proc = runner.run(src, "--mem", mem, stdout=full)
        one_error_line(proc.stderr, "write error on standard output: No space left on device")
    assert proc.returncode == 1
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert runner.leftovers() == []
    assert not [name for name in os.listdir("/dev") if name.endswith(".shuf-big.tmp")]


# -- inputs that are not regular files, or not readable, or that change --------------------


@pytest.mark.parametrize("how", ["path", "stdin"])
def test_dev_null_input_gives_empty_output(runner: Runner, tmp_path: Path, how: str) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    if how == "path":
        proc = runner.run("/dev/null", "-o", out, "--mem", "64K")
    else:
        with open("/dev/null", "rb") as null:
            proc = runner.run("-o", out, "--mem", "64K", stdin=null)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert out.read_bytes() == b""  # the shuffle of nothing replaces the file
    assert runner.leftovers() == []


@pytest.mark.parametrize("cut", ["below", "above"], ids=["cut-below-read-offset", "cut-above-read-offset"])
def test_input_that_shrinks_while_read_is_an_error(runner: Runner, tmp_path: Path, cut: str) -> None:
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
        proc = runner.popen(src, "--mem", "4M", "-o", out, stdout=subprocess.DEVNULL, stderr=stderr)
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
    one_error_line(err.read_bytes(), f"'{src}' shrank while being read: {size} bytes at the start, only ")
    assert out.read_bytes() == PRECIOUS
    assert runner.leftovers() == []


def test_stdin_redirected_from_a_file_at_an_offset(runner: Runner, tmp_path: Path) -> None:
    """``{ head -c N >/dev/null; shuf-big; } < file`` shuffles the rest of the file, also when
    the input fits --mem but its records' arrays do not and it is read a second time."""
    data = numbered_rows(0, 20_000)  # 160 KB of 8-byte lines: fits --mem 256K, ordering them does not
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    skip = 8 * 5000
    with src.open("rb") as stdin:
        stdin.seek(skip)
        proc = runner.run("--mem", "256K", stdin=stdin)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted_records(proc.stdout) == sorted_records(data[skip:])
    assert runner.leftovers() == []


# -- records of awkward shapes -----------------------------------------------------------------


def test_record_longer_than_mem_writes_nothing(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(numbered_rows(0, 30_000) + b"x" * (200 * 1024) + b"\n" + numbered_rows(0, 30_000))
    out = tmp_path / "out.txt"
    for target in ([], ["-o", out]):
        out.write_bytes(PRECIOUS)
        proc = runner.run(src, "--mem", "64K", *target)
        assert proc.returncode == 1
        one_error_line(proc.stderr, "record 30001 is 204801 bytes (200.0 KiB), larger than the memory budget")
        assert proc.stdout == b""
        assert out.read_bytes() == PRECIOUS
        assert runner.leftovers() == []


@pytest.mark.parametrize("sep", [b"\n", b"\0"], ids=["newline", "nul"])
@pytest.mark.parametrize("mem", ["1G", "1M"], ids=["in-memory", "external"])
def test_file_of_only_separators(runner: Runner, tmp_path: Path, sep: bytes, mem: str) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(sep * 200_000)
    out = tmp_path / "out.txt"
    proc = runner.run(src, "--mem", mem, "-o", out, *(["-z"] if sep == b"\0" else []))
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert out.read_bytes() == sep * 200_000  # 200,000 empty records
    assert runner.leftovers() == []


@pytest.mark.parametrize("mem", ["16M", "4M"], ids=["in-memory", "streamed"])
def test_file_without_any_separator_is_one_record(runner: Runner, tmp_path: Path, mem: str) -> None:
    """3 MB without a newline: one record, terminated on output.  At --mem 4M it fits the
    budget but not the ordering arrays, so it goes through a bucket file and is streamed."""
    rng = np.random.default_rng(1)
    body = rng.integers(0, 255, 3 * MiB, dtype=np.uint8)
    body[body == 10] = 255
    src = tmp_path / "in.bin"
    src.write_bytes(body.tobytes())
    proc = runner.run(src, "--mem", mem)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout == body.tobytes() + b"\n"
    body[body == 0] = 1  # the same shape with -z: no NUL inside
    src.write_bytes(body.tobytes())
    zero = runner.run(src, "--mem", mem, "-z")
    assert (zero.returncode, zero.stdout) == (0, body.tobytes() + b"\0")
    assert runner.leftovers() == []


def test_one_byte_records(runner: Runner, tmp_path: Path) -> None:
    """A million records of one byte each (every value but the newline), external path."""
    values = np.array([v for v in range(256) if v != 10], dtype=np.uint8)
    rows = np.empty((1_000_000, 2), dtype=np.uint8)
    rows[:, 0] = np.resize(values, 1_000_000)
    rows[:, 1] = 10
    data = rows.tobytes()
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    ext = runner.run(src, "--mem", "1M", "--seed", "3")
    mem = runner.run(src, "--mem", "1G", "--seed", "3")
    assert (ext.returncode, ext.stderr) == (0, b"")
    assert len(ext.stdout) == len(data) and ext.stdout != data
    assert ext.stdout[1::2] == b"\n" * 1_000_000
    assert Counter(ext.stdout[0::2]) == Counter(data[0::2])
    assert ext.stdout == mem.stdout
    assert runner.leftovers() == []


def test_mix_of_10_byte_and_50_mb_records(runner: Runner, tmp_path: Path) -> None:
    """Two 50 MB records among 500,000 10-byte ones through the external path at --mem 64M:
    every record comes out whole, and the peak RSS stays under --mem + 64 MiB."""
    big = 50 * 1000 * 1000
    src = tmp_path / "in.txt"
    small = numbered_rows(0, 500_000).replace(b"\n", b"xx\n")  # 10-byte records, 5 MB
    with src.open("wb") as f:
        for k, part in enumerate(np.array_split(np.frombuffer(small, np.uint8).reshape(-1, 10), 2)):
            f.write(part.tobytes())
            f.write(bytes([ord("A") + k]) * (big - 1) + b"\n")
    mem = 64 * MiB
    probe = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
        "sys.exit(rc)\n"
    )
    out = tmp_path / "out.txt"
    args = runner.argv(src, "-o", out, "--mem", "64M", "-T", tmp_path, "--seed", "8")
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, timeout=300, env=runner.env)
    assert proc.returncode == 0, proc.stderr
    peak = int(proc.stdout)
    print(f"{src.stat().st_size / MiB:.0f} MiB with 50 MB records at --mem 64M: peak RSS {peak / MiB:.1f} MiB")
    assert peak <= mem + INTERPRETER_ALLOWANCE

    def shapes(path: Path) -> Counter[tuple[int, bytes]]:
        found: Counter[tuple[int, bytes]] = Counter()
        with path.open("rb") as f:
            for line in f:
                found[(len(line), hashlib.blake2b(line, digest_size=8).digest())] += 1
        return found

    got = shapes(out)
    assert got == shapes(src)
    assert sorted(length for length, _ in got if length > 10) == [big] * 2
    assert runner.leftovers() == []


# -- RLIMIT_FSIZE with SIGXFSZ at its default action -------------------------------------------


def test_file_size_limit_mid_pass_1_with_sigxfsz_default(runner: Runner, tmp_path: Path) -> None:
    """With SIGXFSZ at its default action a write past RLIMIT_FSIZE would kill the process;
    Python ignores SIGXFSZ, so shuf-big gets EFBIG and reports it."""
    src = write_numbered(tmp_path / "in.txt", 250_000)
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = runner.run(src, "--mem", "64K", "-o", out, preexec_fn=limit)
    assert proc.returncode == 1
    one_error_line(proc.stderr, "write error in temporary directory", "File too large")
    assert out.read_bytes() == PRECIOUS
    assert runner.leftovers() == []
