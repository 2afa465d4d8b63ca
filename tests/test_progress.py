"""Progress on stderr: ``--progress`` draws a bar even when stderr is not a terminal, for
both paths; without a terminal, or with ``--quiet``/``--no-progress``, stderr stays empty.
(How the flags map to the library's ``progress`` argument is in test_cli.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ShufBig, numbered_lines, sorted_records


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
