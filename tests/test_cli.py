"""The command line itself: option parsing and mapping, ``--help``/``--version``, usage
errors and their exit statuses.

How options reach the library is checked in-process with click's CliRunner (the call the
CLI makes, ``shuf_big.cli.command.shuffle``, replaced by a recorder); what a user sees for a bad
command line (status 1, one ``shuf-big: ...`` line, the hint) by running the installed
console script.  What a run does with files, records, signals and full disks is in the
feature files: test_inputs, test_outputs, test_records, test_signals, test_disk_full,
test_temp_files, test_progress; the library contract of both engines is test_engines.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ShufBig, assert_one_error_line, sorted_records

import shuf_big.cli.command as cli_module
from shuf_big.cli import cli
from shuf_big.options import declared

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
    # Every option not given arrives with its declared default: the CLI adds none of its own.
    defaults = {name: value for name, value in declared.defaults().items() if name not in ("src", "dst")}
    given = {"mem": "64K", "seed": 16, "tmp_dirs": ["a", "b"], "zero_terminated": True, "jobs": 3}
    assert captured == [((["in.txt"], ["out.txt"]), defaults | given | {"head_count": 9, "progress": True})]


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


# -- --engine dask usage errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask"], "--engine dask reads files or URLs, not standard input"),
        (["--engine", "dask", "-n", "3", "f"], "--engine dask cannot be combined with -n"),
        (["--engine", "dask", "--aligned", "f", "g", "-o", "a", "-o", "b"], "cannot be combined with --aligned"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "f"], "needs --temp-url"),
        (["--temp-url", "memory://x", "f"], "--scheduler and --temp-url need --engine dask"),
    ],
)
def test_dask_option_errors_are_one_line(
    tmp_path: Path, shuf_big_cmd: list[str], args: list[str], message: str
) -> None:
    pytest.importorskip("distributed")  # without Dask the first message is the install hint
    for name in ("f", "g"):
        (tmp_path / name).write_bytes(b"x\n")
    run = subprocess.run([*shuf_big_cmd, *args], capture_output=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert_one_error_line(run.stderr, message)
    assert run.stdout == b""


def test_engine_is_a_choice() -> None:
    result = CliRunner().invoke(cli, ["--engine", "spark", "f"])
    assert result.exit_code == 2
    assert "'spark' is not one of 'local', 'dask'" in result.output
