"""The ``shuf-big`` command as a user sees it: exit statuses, messages, files, pipes, signals.

Option parsing is checked in-process with click's CliRunner; everything a user observes
(exit codes, stderr text, signals, pipes, files left behind) is checked by running the
installed console script in a subprocess, with ``TMPDIR`` pointing at a private folder so
that leftover ``shuf-big-*`` temp dirs can be seen.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import assert_one_error_line, default_signals, numbered_rows, sorted_records, wait_until

import shuf_big.cli as cli_module
from shuf_big.cli import cli

MiB = 1 << 20
PRECIOUS = b"precious existing content\nkeep me\n"


def _command() -> list[str]:
    """The installed console script (the venv's own first), else ``python -m shuf_big``."""
    beside = Path(sys.executable).with_name("shuf-big")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("shuf-big")
    return [found] if found else [sys.executable, "-m", "shuf_big"]


SHUF_BIG = _command()


# -- helpers -------------------------------------------------------------------------------


def numbered_lines(nbytes: int) -> bytes:
    """Distinct fixed-width lines ``0000000\\n``, ``0000001\\n``... about ``nbytes`` long."""
    return numbered_rows(0, nbytes // 8)


def write_numbered_file(path: Path, nbytes: int) -> Path:
    """Write numbered lines in chunks, so a 50 MB input costs little memory and time."""
    per_chunk = MiB
    with path.open("wb") as f:
        for start in range(0, nbytes // 8, per_chunk):
            f.write(numbered_rows(start, min(per_chunk, nbytes // 8 - start)))
    return path


def seq(n: int) -> bytes:
    """The output of ``seq n``."""
    return b"".join(b"%d\n" % i for i in range(1, n + 1))


class ShufBig:
    """Runs the console script with ``TMPDIR`` set to a private, initially empty folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir)}

    def run(
        self, *args: str | os.PathLike[str], input: bytes | None = None, **kwargs: object
    ) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("timeout", 120)
        if input is None:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.run([*SHUF_BIG, *map(str, args)], input=input, env=self.env, **kwargs)  # type: ignore[call-overload]

    def popen(self, *args: str | os.PathLike[str], **kwargs: object) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("preexec_fn", default_signals)
        return subprocess.Popen([*SHUF_BIG, *map(str, args)], env=self.env, **kwargs)  # type: ignore[call-overload]

    def temp_dirs(self) -> list[str]:
        return sorted(p.name for p in self.tmpdir.iterdir() if p.name.startswith("shuf-big-"))

    def leftovers(self, *output_dirs: Path) -> list[str]:
        """``shuf-big-*`` dirs in TMPDIR and ``.*.shuf-big.tmp`` partial outputs in the given dirs."""
        found = self.temp_dirs()
        for folder in (self.tmp_path, *output_dirs):
            found += sorted(p.name for p in folder.iterdir() if p.name.endswith(".shuf-big.tmp"))
        return found


@pytest.fixture
def sb(tmp_path: Path) -> ShufBig:
    return ShufBig(tmp_path)


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_bytes(seq(1000))
    return path


@pytest.fixture(scope="session")
def big20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 20 MB: with --mem 1M it is still in pass 1 or 2 when a reader leaves."""
    return write_numbered_file(tmp_path_factory.mktemp("big") / "big20.txt", 20 * 1000 * 1000)


@pytest.fixture(scope="session")
def big50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 50 MB: long enough at --mem 1M to be caught mid-run by a signal."""
    return write_numbered_file(tmp_path_factory.mktemp("big") / "big50.txt", 50 * 1000 * 1000)


# -- option parsing (in-process, CliRunner) -------------------------------------------------


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[object, ...], dict[str, object]]]:
    """Replace the engine call made by the CLI with a recorder."""
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(cli_module, "shuffle", lambda *a, **k: calls.append((a, k)))
    return calls


def test_cli_passes_every_option_to_the_engine(captured) -> None:
    args = ["in.txt", "-o", "out.txt", "-S", "64K", "--seed", "0x10", "-T", "a", "-T", "b", "-z", "-j", "3", "-n", "9"]
    result = CliRunner().invoke(cli, [*args, "--progress"])
    assert result.exit_code == 0, result.output
    assert captured == [
        (
            (["in.txt"], ["out.txt"]),
            {
                "mem": "64K",
                "seed": 16,
                "tmp_dirs": ["a", "b"],
                "jobs": 3,
                "zero_terminated": True,
                "record_separator": None,
                "header": 0,
                "decompress": None,
                "shards": None,
                "aligned": False,
                "progress": True,
                "head_count": 9,
                "echo": None,
                "input_range": None,
                "repeat": False,
                "random_source": None,
                "engine": "local",
                "scheduler": None,
                "temp_url": None,
                "quiet": False,
            },
        )
    ]


def test_cli_passes_the_dask_options(captured) -> None:
    args = ["--engine", "dask", "--scheduler", "tcp://h:8786", "--temp-url", "s3://b/tmp", "-q", "s3://b/in.txt"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (srcs, _), kwargs = captured[0]
    assert srcs == ["s3://b/in.txt"]
    assert (kwargs["engine"], kwargs["scheduler"], kwargs["temp_url"]) == ("dask", "tcp://h:8786", "s3://b/tmp")
    assert kwargs["quiet"] is True
    assert kwargs["progress"] is False


def test_cli_defaults_read_stdin_write_stdout(captured) -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    (args, kwargs) = captured[0]
    assert args == (["-"], ["-"])
    assert kwargs["mem"] == "25%"
    assert kwargs["seed"] is None
    assert kwargs["tmp_dirs"] is None
    assert kwargs["jobs"] is None  # the library resolves it to the CPUs available
    assert kwargs["zero_terminated"] is False
    assert kwargs["progress"] is False  # CliRunner's stderr is not a terminal
    assert kwargs["head_count"] is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], False),
        (["--progress"], True),
        (["--no-progress"], False),
        (["--progress", "--quiet"], False),
        (["--progress", "-q"], False),
    ],
)
def test_cli_progress_flags(captured, flags: list[str], expected: bool) -> None:
    result = CliRunner().invoke(cli, ["in.txt", *flags])
    assert result.exit_code == 0, result.output
    assert captured[0][1]["progress"] is expected


def test_cli_help_lists_options_and_examples() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for text in ("--output", "--mem", "--seed", "--temporary-directory", "--zero-terminated", "Examples:"):
        assert text in result.output


# -- help and version -----------------------------------------------------------------------


def test_help_exits_0_and_shows_examples(sb: ShufBig) -> None:
    for flag in ("--help", "-h"):
        proc = sb.run(flag)
        assert proc.returncode == 0
        assert proc.stderr == b""
        out = proc.stdout.decode()
        assert out.startswith("Usage: shuf-big")
        assert "Examples:" in out
        assert "shuf-big corpus.jsonl -o shuffled.jsonl --mem 4G" in out


def test_version(sb: ShufBig) -> None:
    proc = sb.run("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"shuf-big 1.0.0\n", b"")


# -- input errors ---------------------------------------------------------------------------


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


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-5", "10X", "", "1.2.3", "101%"])
def test_bad_mem(sb: ShufBig, small_file: Path, value: str) -> None:
    proc = sb.run(small_file, "--mem", value)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "--mem")
    assert proc.stdout == b""


@pytest.mark.parametrize("value", ["8K", "16383", "0"])
def test_mem_below_16k(sb: ShufBig, small_file: Path, value: str) -> None:
    proc = sb.run(small_file, "--mem", value)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "--mem", "16K")
    assert proc.stdout == b""


def test_mem_of_exactly_16k_is_accepted(sb: ShufBig, small_file: Path) -> None:
    proc = sb.run(small_file, "--mem", "16K")
    assert proc.returncode == 0, proc.stderr
    assert sorted_records(proc.stdout) == sorted_records(small_file.read_bytes())


@pytest.mark.parametrize("value", ["abc", "-1", str(2**64), "1.5", ""])
def test_bad_seed(sb: ShufBig, small_file: Path, value: str) -> None:
    proc = sb.run(small_file, "--seed", value)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "--seed")
    assert proc.stdout == b""


def test_seed_with_leading_zeros_or_hex_is_the_same_seed(sb: ShufBig, small_file: Path) -> None:
    outputs = {sb.run(small_file, "--seed", value).stdout for value in ("7", "007", "0x7")}
    assert len(outputs) == 1


def test_largest_seed_is_accepted(sb: ShufBig, small_file: Path) -> None:
    proc = sb.run(small_file, "--seed", str(2**64 - 1))
    assert proc.returncode == 0, proc.stderr
    assert sorted_records(proc.stdout) == sorted_records(small_file.read_bytes())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus"], "--bogus"),
        (["-Y"], "-Y"),
        (["-j", "abc"], "abc"),
        (["--seed"], "--seed"),
        (["-i", "1-3", "b.txt"], "extra operand 'b.txt'"),
    ],
    ids=["unknown-long", "unknown-short", "non-integer-jobs", "missing-argument", "extra-operand"],
)
def test_usage_error_exits_1_with_hint(sb: ShufBig, args: list[str], needle: str) -> None:
    proc = sb.run(*args)
    assert proc.returncode == 1  # GNU shuf's status, not click's 2
    text = proc.stderr.decode()
    assert "Traceback" not in text
    lines = text.splitlines()
    assert lines[0].startswith("shuf-big: ") and needle in lines[0], text
    assert lines[-1] == "Try 'shuf-big --help' for more information."
    assert proc.stdout == b""


@pytest.mark.parametrize("value", ["0", "-2"])
def test_bad_jobs(sb: ShufBig, small_file: Path, value: str) -> None:
    proc = sb.run(small_file, "-j", value)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "--jobs")
    assert proc.stdout == b""


def test_missing_temp_dir(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    proc = sb.run(small_file, "-T", missing)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, str(missing))
    assert proc.stdout == b""
    assert not missing.exists()


# -- output files ---------------------------------------------------------------------------


def test_output_file_holds_a_permutation(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    proc = sb.run(small_file, "-o", out, "--seed", "1")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    shuffled = out.read_bytes()
    assert sorted_records(shuffled) == sorted_records(small_file.read_bytes())
    assert shuffled != small_file.read_bytes()  # 1000 lines: identity has probability 1/1000!
    assert sb.leftovers() == []


def test_last_line_gets_a_newline(sb: ShufBig) -> None:
    proc = sb.run(input=b"alpha\nbeta\ngamma")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == len(b"alpha\nbeta\ngamma\n")
    assert sorted_records(proc.stdout) == [b"alpha", b"beta", b"gamma"]


@pytest.mark.parametrize(("nbytes", "mem"), [(8000, "1G"), (1_000_000, "64K")], ids=["in-memory", "external"])
def test_output_may_be_the_input(sb: ShufBig, tmp_path: Path, nbytes: int, mem: str) -> None:
    original = numbered_lines(nbytes)
    path = tmp_path / "data.txt"
    path.write_bytes(original)
    proc = sb.run(path, "-o", path, "--mem", mem, "--seed", "3")
    assert (proc.returncode, proc.stderr) == (0, b"")
    shuffled = path.read_bytes()
    assert sorted_records(shuffled) == sorted_records(original)
    assert shuffled != original
    assert sb.leftovers() == []


@pytest.mark.parametrize(
    "args",
    [["missing.txt"], ["{small}", "--mem", "abc"], ["{small}", "--seed", "abc"], ["{small}", "-T", "/no/such/dir"]],
    ids=["missing-input", "bad-mem", "bad-seed", "missing-temp-dir"],
)
def test_failed_run_leaves_existing_output_untouched(
    sb: ShufBig, small_file: Path, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    before = out.stat()
    proc = sb.run(*[a.format(small=small_file) for a in args], "-o", out, cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr)
    assert out.read_bytes() == PRECIOUS
    assert out.stat().st_ino == before.st_ino
    assert sb.leftovers() == []


def test_output_keeps_mode_of_replaced_file(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    out.chmod(0o640)
    proc = sb.run(small_file, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted_records(out.read_bytes()) == sorted_records(small_file.read_bytes())


def test_new_output_file_gets_umask_mode(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    """A new output is created like any file (0666 & ~umask), not 0600 like a temp file."""
    out = tmp_path / "new.txt"
    proc = sb.run(small_file, "-o", out, preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_output_in_missing_directory(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "out.txt"
    proc = sb.run(small_file, "-o", out)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, str(out))
    assert not out.parent.exists()
    assert sb.leftovers() == []


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_output_to_dev_null_keeps_the_device(sb: ShufBig, tmp_path: Path, mem: str) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(numbered_lines(200_000))
    proc = sb.run(data, "-o", "/dev/null", "--mem", mem)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert os.path.exists("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sb.leftovers() == []
    assert not [name for name in os.listdir("/dev") if name.endswith(".shuf-big.tmp")]


# -- standard streams and record formats ----------------------------------------------------


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


def _awkward_records(n: int) -> list[bytes]:
    """Lines that are not text: invalid UTF-8, CR before LF, NUL bytes, empty lines."""
    shapes = [b"%d plain", b"%d \xff\xfe\x80 invalid utf-8", b"%d crlf\r", b"%d nul\x00inside", b"", b"\r", b"\x00"]
    return [shape % i if b"%d" in shape else shape for i in range(n) for shape in shapes]


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_binary_bytes_pass_through(sb: ShufBig, mem: str) -> None:
    recs = _awkward_records(4000)  # ~190 KB: three times the 64K budget
    data = b"".join(r + b"\n" for r in recs)
    proc = sb.run("--mem", mem, input=data)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout) == len(data)
    assert sorted_records(proc.stdout) == sorted(recs)


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_zero_terminated_records(sb: ShufBig, mem: str) -> None:
    recs = [b"record %d\nspans\r\nlines \xff" % i for i in range(6000)] + [b"", b"\n"]
    data = b"".join(r + b"\0" for r in recs)
    proc = sb.run("-z", "--mem", mem, input=data)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout) == len(data)
    assert sorted_records(proc.stdout, b"\0") == sorted(recs)


def test_zero_terminated_last_record_gets_a_nul(sb: ShufBig) -> None:
    proc = sb.run("-z", input=b"a\nb\0c")
    assert proc.returncode == 0, proc.stderr
    assert sorted_records(proc.stdout, b"\0") == [b"a\nb", b"c"]


def test_empty_input(sb: ShufBig, tmp_path: Path) -> None:
    proc = sb.run(input=b"")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "out.txt"
    proc = sb.run(empty, "-o", out, "--mem", "64K")
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert out.read_bytes() == b""
    assert sb.leftovers() == []


# -- a reader that goes away ----------------------------------------------------------------


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
        ["bash", "-c", script, "bash", *SHUF_BIG, str(big20), "--mem", "1M"],
        capture_output=True,
        env=sb.env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert (proc.stdout, proc.stderr) == (b"141\n", b"")
    assert sb.leftovers() == []


# -- signals --------------------------------------------------------------------------------


def _bucket_files_exist(sb: ShufBig) -> bool:
    for name in sb.temp_dirs():
        try:
            if os.listdir(sb.tmpdir / name):
                return True
        except FileNotFoundError:
            pass
    return False


def _output_temp_files(folder: Path, name: str) -> list[Path]:
    return list(folder.glob(f".{name}.*.shuf-big.tmp"))


def _output_temp_has_data(folder: Path, name: str) -> bool:
    for path in _output_temp_files(folder, name):
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


@pytest.mark.parametrize(
    ("signum", "phase", "preexisting"),
    [
        (signal.SIGTERM, "pass1", False),
        (signal.SIGTERM, "pass1", True),
        (signal.SIGTERM, "pass2", True),
        (signal.SIGINT, "pass1", False),
        (signal.SIGINT, "pass1", True),
        (signal.SIGINT, "pass2", False),
        (signal.SIGINT, "pass2", True),
        (signal.SIGHUP, "pass1", True),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else str(v),
)
def test_signal_cleans_up_then_dies_by_it(
    sb: ShufBig, big50: Path, tmp_path: Path, signum: signal.Signals, phase: str, preexisting: bool
) -> None:
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
            wait_until(proc, lambda: _bucket_files_exist(sb), "pass 1 created bucket files")
        else:
            wait_until(proc, lambda: _output_temp_has_data(tmp_path, "out.txt"), "pass 2 started writing")
        proc.send_signal(signum)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err_path.read_bytes().decode("utf-8", "replace")
    assert (returncode, stderr) == (-signum, "")  # a shell shows 128 + signum; no traceback
    assert sb.temp_dirs() == []
    assert _output_temp_files(tmp_path, "out.txt") == []
    if preexisting:
        assert out.read_bytes() == PRECIOUS
    else:
        assert not out.exists()
    assert sb.leftovers() == []


# A signal can arrive at any instant, including right after the temp dir (or the hidden
# output file) is created and before shuf-big has recorded its name for cleanup.  Polling
# from outside hits that instant only sometimes, so the child injects the signal itself:
# it wraps tempfile's function to send itself the signal just after the creation.
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
        env=sb.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert sb.leftovers() == []
    assert out.read_bytes() == PRECIOUS
    assert proc.returncode == -signum, proc.stderr.decode(errors="replace")[-2000:]


# -- a full disk ----------------------------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    """In the child: writes past ``limit`` bytes fail with EFBIG instead of raising SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


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


# -- free-space precheck --------------------------------------------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A 1 MB tmpfs, if this machine lets us mount one."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where = tmp_path / "tiny"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


@pytest.mark.parametrize("to_file", [True, False], ids=["output-file", "stdout"])
def test_not_enough_temp_space_fails_before_writing(
    sb: ShufBig, big20: Path, tmp_path: Path, tiny_tmpfs: Path, to_file: bool
) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    args = ["-o", out] if to_file else []
    proc = sb.run(big20, "--mem", "64K", "-T", tiny_tmpfs, *args)
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "not enough space", str(tiny_tmpfs))
    assert proc.stdout == b""
    assert os.listdir(tiny_tmpfs) == []
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == []


# -- progress -------------------------------------------------------------------------------


@pytest.fixture
def one_mb(tmp_path: Path) -> Path:
    path = tmp_path / "one-mb.txt"
    path.write_bytes(numbered_lines(1_000_000))
    return path


@pytest.mark.parametrize(("mem", "label"), [("64K", "pass 1/2"), ("1G", "shuffling")], ids=["external", "in-memory"])
def test_progress_forces_a_bar_when_not_a_tty(sb: ShufBig, one_mb: Path, mem: str, label: str) -> None:
    proc = sb.run(one_mb, "--mem", mem, "--progress")
    assert proc.returncode == 0
    assert label in proc.stderr.decode("utf-8", "replace")
    assert sorted_records(proc.stdout) == sorted_records(one_mb.read_bytes())


@pytest.mark.parametrize("flags", [[], ["--quiet"], ["-q", "--progress"], ["--no-progress"]])
def test_no_progress_output_without_a_tty_or_with_quiet(sb: ShufBig, one_mb: Path, flags: list[str]) -> None:
    proc = sb.run(one_mb, "--mem", "64K", *flags)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted_records(proc.stdout) == sorted_records(one_mb.read_bytes())
