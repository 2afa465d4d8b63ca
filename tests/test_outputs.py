"""Where the shuffle goes: ``-o`` is replaced atomically and only on success (it may name the
input), keeps the mode of the file it replaces or gets the umask's, a missing directory is
an error, and ``-o /dev/null`` leaves the device alone.  Writes that fail part-way (full
disks, RLIMIT_FSIZE, /dev/full) are in test_disk_full.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import PRECIOUS, ShufBig, assert_one_error_line, numbered_lines, sorted_records

# -- a complete output, replaced atomically -----------------------------------------------------


def test_output_file_holds_a_permutation(sb: ShufBig, small_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    proc = sb.run(small_file, "-o", out, "--seed", "1")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    shuffled = out.read_bytes()
    assert sorted_records(shuffled) == sorted_records(small_file.read_bytes())
    assert shuffled != small_file.read_bytes()  # 1000 lines: identity has probability 1/1000!
    assert sb.leftovers() == []


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


# -- file mode ----------------------------------------------------------------------------------


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


# -- outputs that are not plain files in an existing directory ----------------------------------


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
