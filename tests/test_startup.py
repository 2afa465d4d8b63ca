"""Start-up: what a command imports before it does anything.

``--version``, ``--help`` and a usage error never load numpy or tqdm (numpy alone costs
about five times a bare interpreter's start); a run loads tqdm only when it shows progress
and Dask only for ``--engine dask``.  Checked through ``python -X importtime``, which lists
every module a process imports, for both ways of starting the command: ``python -m shuf_big``
and the console script's entry point (``shuf_big.cli:main``).  No timings are asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ENTRY_POINTS = {
    "python -m shuf_big": ["-m", "shuf_big"],
    "console script": ["-c", "import sys; from shuf_big.cli import main; sys.argv[0] = 'shuf-big'; main()"],
}
HEAVY = ("numpy", "tqdm", "dask", "distributed", "fsspec")


def imported(entry: str, *args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the command with ``-X importtime``; its result and the top-level packages it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *ENTRY_POINTS[entry], *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        timeout=60,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return result, names


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], ["--no-such-option"]], ids=" ".join)
def test_version_help_and_usage_errors_import_neither_numpy_nor_tqdm(entry: str, args: list[str]) -> None:
    result, names = imported(entry, *args)
    assert result.returncode == (1 if args == ["--no-such-option"] else 0), result.stderr[-2000:]
    if args == ["--version"]:
        assert result.stdout == "shuf-big 1.0.0\n"
    if args[0] in ("--help", "-h"):
        assert "Usage: shuf-big" in result.stdout
    assert "shuf_big" in names  # the listing is there at all
    assert names.isdisjoint(HEAVY), sorted(names & set(HEAVY))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_run_without_progress_imports_no_tqdm_and_no_dask(entry: str, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"a\nb\nc\n")
    result, names = imported(entry, "in.txt", "-o", "out.txt", "--seed", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted((tmp_path / "out.txt").read_bytes().splitlines()) == [b"a", b"b", b"c"]
    assert "numpy" in names
    assert names.isdisjoint({"tqdm", "dask", "distributed", "fsspec"})


def test_a_run_with_progress_imports_tqdm(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"a\nb\nc\n")
    result, names = imported("python -m shuf_big", "in.txt", "-o", "out.txt", "--progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tqdm" in names


def test_the_package_names_its_api_without_importing_it() -> None:
    code = (
        "import sys, shuf_big; assert 'numpy' not in sys.modules, 'numpy at import'; "
        "names = dir(shuf_big); assert {'shuffle', 'iter_shuffled', 'Result', 'ShufBigError'} <= set(names); "
        "assert shuf_big.shuffle.__module__ == 'shuf_big.api'; assert 'numpy' in sys.modules; "
        "from shuf_big import ShufBigError, iter_shuffled, Result; print(ShufBigError.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ShufBigError\n"
    missing = subprocess.run(
        [sys.executable, "-c", "import shuf_big; shuf_big.no_such_name"], capture_output=True, text=True, timeout=60
    )
    assert "module 'shuf_big' has no attribute 'no_such_name'" in missing.stderr
