"""Failures found before the work: a missing, unreadable or directory input (also deep in a
``--files-from`` list, named with its line), an output directory that cannot take the file,
an output file system without room for a known-size output.  Each runs the command: exit
status 1, one line naming the file, nothing written, no temp files.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import PRECIOUS, MiB, ShufBig, assert_one_error_line, numbered_rows, sorted_records, write_numbered

import shuf_big
from shuf_big import ShufBigError
from shuf_big.budget.sizes import format_size


def gzip_shards(folder: Path, count: int, rows: int = 20_000) -> list[Path]:
    """``count`` gzip shards of distinct numbered lines."""
    paths = []
    for i in range(count):
        path = folder / f"shard-{i:02d}.txt.gz"
        path.write_bytes(gzip.compress(numbered_rows(i * rows, rows), compresslevel=1))
        paths.append(path)
    return paths


def assert_failed_cleanly(sb: ShufBig, proc: subprocess.CompletedProcess[bytes], message: str, out: Path) -> None:
    """Exit status 1, exactly ``shuf-big: message``, nothing on stdout, -o and temp untouched."""
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"shuf-big: {message}\n"
    assert proc.stdout == b""
    assert out.read_bytes() == PRECIOUS
    assert sb.leftovers(out.parent) == []
    assert os.listdir(sb.tmpdir) == []


# -- inputs ---------------------------------------------------------------------------------------


def test_missing_entry_deep_in_a_list_of_gzip_shards(sb: ShufBig, tmp_path: Path) -> None:
    """Line 9 of the list (blank lines count, and are skipped) names a missing shard.  An
    earlier entry is a FIFO nobody writes to: a run that read the inputs in order would
    block on it, so the error can only come from a check of every entry before reading."""
    shards = gzip_shards(tmp_path, 4)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    missing = tmp_path / "shard-99.txt.gz"
    listing = tmp_path / "shards.txt"
    lines = [shards[0], shards[1], "", shards[2], "   ", fifo, shards[3], "", missing, shards[0]]
    listing.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = sb.run("--files-from", listing, "--mem", "64K", "-o", out, timeout=60)
    assert_failed_cleanly(sb, proc, f"{listing}:9: cannot open '{missing}': No such file or directory", out)


def test_blank_lines_of_a_list_are_skipped(sb: ShufBig, tmp_path: Path) -> None:
    shards = gzip_shards(tmp_path, 2, rows=1000)
    listing = tmp_path / "shards.txt"
    listing.write_text(f"\n{shards[0]}\n \t \n\n{shards[1]}\n\n")
    proc = sb.run("--files-from", listing, "--seed", 3)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted_records(proc.stdout) == sorted_records(numbered_rows(0, 2000))


def test_list_on_standard_input_names_its_lines(sb: ShufBig, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"a\n")
    proc = sb.run("--files-from", "-", input=f"{good}\nnope.txt\n".encode(), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == b"shuf-big: -:2: cannot open 'nope.txt': No such file or directory\n"


@pytest.mark.parametrize("how", ["operand", "list"])
def test_directory_input(sb: ShufBig, tmp_path: Path, how: str) -> None:
    good = write_numbered(tmp_path / "good.txt", 1000)
    folder = tmp_path / "folder"
    folder.mkdir()
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    if how == "operand":
        proc = sb.run(good, folder, "-o", out)
        message = f"cannot read '{folder}': Is a directory"
    else:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{good}\n{folder}\n")
        proc = sb.run("--files-from", listing, "-o", out)
        message = f"{listing}:2: cannot read '{folder}': Is a directory"
    assert_failed_cleanly(sb, proc, message, out)


def test_unreadable_input_in_a_list(sb: ShufBig, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root from reading the file")
    good = write_numbered(tmp_path / "good.txt", 1000)
    locked = write_numbered(tmp_path / "locked.txt", 1000)
    locked.chmod(0)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good}\n{locked}\n")
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    try:
        proc = sb.run("--files-from", listing, "-o", out)
    finally:
        locked.chmod(0o644)
    assert_failed_cleanly(sb, proc, f"{listing}:2: cannot open '{locked}': Permission denied", out)


def test_head_count_0_opens_no_input(sb: ShufBig, tmp_path: Path) -> None:
    """As GNU shuf: ``-n 0`` does not even open the input, so a missing one is no error."""
    proc = sb.run("-n", "0", tmp_path / "missing.txt")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


# -- outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "shards", "reason"),
    [
        ("/proc/nonexistent/x", None, "No such file or directory"),
        ("{tmp}/no-such-dir/part-{{shard}}.txt", 3, "No such file or directory"),
        ("{tmp}/in.txt/x", None, "Not a directory"),
        ("{tmp}", None, "Is a directory"),
    ],
    ids=["proc", "shard-pattern", "file-as-dir", "directory"],
)
def test_output_that_cannot_be_created(
    sb: ShufBig, tmp_path: Path, target: str, shards: int | None, reason: str
) -> None:
    shard_args = ["--shards", str(shards)] if shards else []
    src = gzip_shards(tmp_path, 1)[0]
    (tmp_path / "in.txt").write_bytes(b"a\n")
    path = target.format(tmp=tmp_path)
    shown = path.format(shard=0) if shards else path
    proc = sb.run(src, "--mem", "64K", "-o", path, *shard_args)
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"shuf-big: cannot open '{shown}' for writing: {reason}\n"
    assert sb.leftovers() == [] and os.listdir(sb.tmpdir) == []


@pytest.fixture
def read_only_dir(mount_tmpfs: Callable[[str, int], Path]) -> Path:
    """A tmpfs remounted read-only (root bypasses permission bits, not a read-only mount)."""
    where = mount_tmpfs("ro", MiB)
    (where / "out.txt").write_bytes(PRECIOUS)
    done = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.decode(errors='replace').strip()}")
    return where


@pytest.mark.parametrize("shards", [None, 2])
def test_output_on_a_read_only_file_system(
    sb: ShufBig, tmp_path: Path, read_only_dir: Path, shards: int | None
) -> None:
    src = gzip_shards(tmp_path, 1)[0]
    out = read_only_dir / ("out.txt" if shards is None else "s{shard}.txt")
    proc = sb.run(src, "--mem", "64K", "-o", out, *(["--shards", shards] if shards else []))
    shown = str(out).format(shard=0)
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"shuf-big: cannot open '{shown}' for writing: Read-only file system\n"
    assert sorted(os.listdir(read_only_dir)) == ["out.txt"]
    assert (read_only_dir / "out.txt").read_bytes() == PRECIOUS
    assert sb.leftovers() == [] and os.listdir(sb.tmpdir) == []


def test_output_file_system_without_room(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    """A 2 MiB input for a 1 MiB file system: refused before anything is written, with the
    temp check's words.  With ``-n`` the output's size is not known: it is written."""
    tiny = mount_tmpfs("tiny", MiB)
    out = tiny / "out.txt"
    out.write_bytes(PRECIOUS)
    src = write_numbered(tmp_path / "in.txt", 2 * MiB // 8)
    free = os.statvfs(tiny).f_bavail * os.statvfs(tiny).f_frsize
    proc = sb.run(src, "--mem", "64K", "-o", out)
    message = f"not enough space for '{out}' in '{tiny}': need about 2.0 MiB, {format_size(free)} free"
    assert_failed_cleanly(sb, proc, message, out)
    assert os.listdir(tiny) == ["out.txt"]
    sample = sb.run(src, "--mem", "64K", "-n", "10", "-o", out)
    assert (sample.returncode, sample.stderr) == (0, b"")
    assert len(out.read_bytes().splitlines()) == 10


def test_sharded_output_without_room(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    """Four shards of 2 MiB in all on a 1 MiB file system: no shard is written."""
    tiny = mount_tmpfs("tiny", MiB)
    src = write_numbered(tmp_path / "in.txt", 2 * MiB // 8)
    proc = sb.run(src, "--shards", "4", "-o", tiny / "part-{shard}.txt")
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, f"not enough space for '{tiny / 'part-0.txt'}'", "need about 2.0 MiB")
    assert os.listdir(tiny) == []


# -- the library and the Dask engine ----------------------------------------------------------------


def test_api_files_from_names_the_line(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"a\n")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good}\n\n{tmp_path / 'gone.txt'}\n")
    with pytest.raises(ShufBigError) as err:
        shuf_big.shuffle(files_from=str(listing), dst=str(tmp_path / "out.txt"))
    assert str(err.value) == f"{listing}:3: cannot open '{tmp_path / 'gone.txt'}': No such file or directory"
    assert not (tmp_path / "out.txt").exists()


def test_dask_engine_checks_before_starting_a_cluster(tmp_path: Path) -> None:
    """The same checks, before any cluster starts (none is given here: one would be started)."""
    pytest.importorskip("distributed")
    good = tmp_path / "good.txt"
    good.write_bytes(b"a\n")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good}\n{tmp_path / 'gone.txt'}\n")
    with pytest.raises(ShufBigError) as err:
        shuf_big.shuffle(files_from=str(listing), dst=str(tmp_path / "out.txt"), engine="dask", quiet=True)
    assert str(err.value) == f"{listing}:2: cannot open '{tmp_path / 'gone.txt'}': No such file or directory"
    with pytest.raises(ShufBigError) as err:
        shuf_big.shuffle(str(good), "/proc/nonexistent/x", engine="dask", quiet=True)
    assert str(err.value) == "cannot open '/proc/nonexistent/x' for writing: No such file or directory"
    assert sorted(os.listdir(tmp_path)) == ["good.txt", "list.txt"]
