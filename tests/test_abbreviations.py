"""GNU getopt_long parity: unambiguous long-option prefixes work, ambiguous ones fail in GNU's words.

Each case runs GNU shuf and shuf-big on the same arguments: same output, same exit
status, same message after the program name.  ``--random-source`` makes GNU's output
deterministic; where it matters only that both accept the option, outputs are compared
as sorted lines.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from shuf_big.cli import main
from shuf_big.cli.getopt import GnuCommand, Spelling

Run = tuple[int, bytes, str]

# (arguments, how outputs compare: "same" bytes, "sorted" the same lines, "count" as many lines)
ACCEPTED = [
    (["--rep", "--head=5", "-e", "a", "b"], "count"),
    (["--head", "3", "-i", "1-9"], "count"),
    (["--input-r=1-9"], "sorted"),
    (["--input-r", "1-9", "--zero"], "sorted"),
    (["--random-s=SRC", "-i", "1-20"], "sorted"),
    (["--ech", "x", "y", "z", "--hea=2"], "count"),
    (["-i", "5-5", "--ou=OUT"], "same"),
    (["--head-c=0", "-i", "1-3"], "same"),
    (["-n", "3", "--", "FILE"], "sorted"),
]
REJECTED = [
    ["--r", "-i", "1-3"],
    ["--he", "1", "-i", "1-3"],
    ["--nosuch", "-i", "1-3"],
    ["--zero=1", "-i", "1-3"],
    ["-i", "1-3", "--out"],
    ["-i", "1-3", "-n"],
]


def _args(args: list[str], where: Path) -> list[str]:
    args = [a.replace("SRC", str(where / "src")).replace("OUT", str(where / "out")) for a in args]
    return [str(where / "file") if a == "FILE" else a for a in args]


def _run(cmd: list[str], args: list[str], where: Path) -> tuple[int, bytes, str]:
    result = subprocess.run([*cmd, *_args(args, where)], capture_output=True, check=False, cwd=where)
    _, _, message = result.stderr.decode().partition(": ")
    return result.returncode, result.stdout, message.replace("shuf-big", "shuf")


@pytest.fixture
def in_process(capfdbinary: pytest.CaptureFixture[bytes], where: Path) -> Callable[[list[str], list[str], Path], Run]:
    """The command's main() in this process (a subprocess costs a second here): status, stdout, message."""

    def run(cmd: list[str], args: list[str], where: Path) -> Run:
        if cmd != ["shuf-big"]:
            return _run(cmd, args, where)
        saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        capfdbinary.readouterr()
        try:
            main(_args(args, where))
            status = 0
        except SystemExit as exc:
            status = int(exc.code or 0)
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)
        out, err = capfdbinary.readouterr()
        return status, out, err.decode().partition(": ")[2].replace("shuf-big", "shuf")

    return run


@pytest.fixture
def where(tmp_path: Path) -> Path:
    (tmp_path / "src").write_bytes(bytes(range(64)))
    (tmp_path / "file").write_bytes(b"a\nb\nc\n")
    return tmp_path


@pytest.mark.parametrize(("args", "compare"), ACCEPTED, ids=[" ".join(a) for a, _ in ACCEPTED])
def test_prefixes_accepted_as_gnu_shuf(
    in_process: Callable[[list[str], list[str], Path], Run], where: Path, args: list[str], compare: str
) -> None:
    gnu = _run(["shuf"], args, where)
    gnu_file = (where / "out").read_bytes() if (where / "out").exists() else None
    ours = in_process(["shuf-big"], args, where)
    assert ours[0] == gnu[0] == 0, (ours, gnu)
    assert ours[2] == gnu[2] == ""
    ours_lines, gnu_lines = (sorted(out.replace(b"\0", b"\n").split()) for out in (ours[1], gnu[1]))
    if compare == "same":
        assert ours[1] == gnu[1]
        assert gnu_file is None or (where / "out").read_bytes() == gnu_file
    elif compare == "sorted":
        assert ours_lines == gnu_lines != []
    else:
        assert len(ours_lines) == len(gnu_lines) > 0


@pytest.mark.parametrize("args", REJECTED, ids=[" ".join(a) for a in REJECTED])
def test_errors_worded_as_gnu_shuf(
    in_process: Callable[[list[str], list[str], Path], Run], where: Path, args: list[str]
) -> None:
    gnu = _run(["shuf"], args, where)
    ours = in_process(["shuf-big"], args, where)
    assert ours[0] == gnu[0] == 1
    assert ours[1] == gnu[1] == b""
    if args[0] in ("--r", "--he"):  # shuf-big has more options: GNU's candidates first, then its own
        gnu_line, ours_line = gnu[2].splitlines()[0], ours[2].splitlines()[0]
        assert ours_line.startswith(gnu_line + " '"), (ours_line, gnu_line)
        assert ours[2].splitlines()[1:] == gnu[2].splitlines()[1:]
    else:
        assert ours[2] == gnu[2]


def test_installed_command_side_by_side(shuf_big_cmd: list[str], where: Path) -> None:
    """The console script itself, once accepting and once rejecting, as a script would call it."""
    for args in (["--rep", "--head=3", "--random-s=SRC", "-i", "1-1"], ["--r", "-i", "1-3"]):
        gnu, ours = _run(["shuf"], args, where), _run(shuf_big_cmd, args, where)
        assert ours[0] == gnu[0]
        assert ours[1] == gnu[1]
        assert ours[2].split(";")[0] == gnu[2].split(";")[0]


def test_ambiguous_message_lists_every_candidate() -> None:
    """The issue's example, word for word (after ``shuf-big: ``)."""
    from shuf_big.cli import cli
    from shuf_big.errors import UsageError

    assert isinstance(cli, GnuCommand)
    spelling = Spelling(cli.params, ["-h", "--help"])
    with pytest.raises(UsageError) as caught:
        spelling.expand_args(["--r"])
    assert str(caught.value) == (
        "option '--r' is ambiguous; possibilities: '--random-source' '--repeat' '--record-separator'"
    )
    # Values of options and everything after -- are left alone; --no-progress style options expand.
    assert spelling.expand_args(["-o", "--rep", "--no-p", "--temp-u=x", "-T", "--r", "--", "--r"]) == [
        "-o",
        "--rep",
        "--no-progress",
        "--temp-url=x",
        "-T",
        "--r",
        "--",
        "--r",
    ]
    assert spelling.expand_args(["--head", "2", "--header=1", "--pro", "--mem", "1M", "--see=3"]) == [
        "--head-count",
        "2",
        "--header=1",
        "--progress",
        "--mem",
        "1M",
        "--seed=3",
    ]
