"""Temp directories in RAM (tmpfs): their files take memory beyond ``--mem``.

With no ``-T`` and no ``TMPDIR``, a ``/tmp`` in RAM gives way to ``/var/tmp`` when that is a
writable directory on disk; a temp directory in RAM that is used anyway draws one warning
line naming it and how much memory its files will take.  Real tmpfs mounts: the default
``/tmp`` case runs the command in a private mount namespace (``unshare --mount``) whose
``/tmp`` is a tmpfs, so the production code path is the one tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ShufBig, numbered_rows

from shuf_big.system.mounts import filesystem_type, in_ram

ROWS = numbered_rows(0, 20_000)  # 160 KB: external at --mem 128K
ROOT = Path(__file__).resolve().parents[1]


def test_a_tmpfs_mount_is_found_in_the_mount_table(tmp_path: Path, mount_tmpfs) -> None:
    ram = mount_tmpfs("ram", 1 << 20)
    (ram / "sub").mkdir()
    assert filesystem_type(str(ram)) == "tmpfs"
    assert in_ram(str(ram / "sub")) and in_ram(str(ram / "sub" / "not-yet"))
    assert not in_ram(str(ROOT))  # the project's disk
    os.symlink(ram, tmp_path / "link")
    assert in_ram(str(tmp_path / "link"))  # followed to the mount


def test_a_chosen_temp_dir_in_ram_warns_once_with_the_size(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    ram = mount_tmpfs("ram", 64 << 20)
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    expected = sb.run(src, "--seed", "3", "--mem", "128K").stdout  # temp files in TMPDIR on disk
    proc = sb.run(src, "--seed", "3", "--mem", "128K", "-T", ram, "-v")
    assert proc.returncode == 0 and proc.stdout == expected
    lines = proc.stderr.decode().splitlines()
    # 160 KB of records and their 2-byte index gaps, written once: about the input's size
    assert lines[0] == (
        f"shuf-big: warning: temporary directory '{ram}' is in RAM (tmpfs): its files will take "
        "about 197.3 KiB of memory, beyond --mem (use -T DIR on a disk)"
    )
    assert [line for line in lines if "warning" in line] == lines[:1]
    assert f"of temp files in {ram}" in proc.stderr.decode()
    assert os.listdir(ram) == []


def test_tmpdir_in_ram_warns_for_a_stream_without_a_size(sb: ShufBig, mount_tmpfs) -> None:
    ram = mount_tmpfs("ram", 64 << 20)
    expected = sb.run("--seed", "4", "--mem", "128K", input=ROWS).stdout
    proc = sb.run("--seed", "4", "--mem", "128K", input=ROWS, env={**sb.env, "TMPDIR": str(ram)})
    assert proc.returncode == 0 and proc.stdout == expected
    assert proc.stderr.decode() == (
        f"shuf-big: warning: temporary directory '{ram}' is in RAM (tmpfs): its files will take "
        "as much memory as the input, beyond --mem (use -T DIR on a disk)\n"
    )


def test_no_warning_when_no_temp_file_is_written(sb: ShufBig, tmp_path: Path, mount_tmpfs) -> None:
    ram = mount_tmpfs("ram", 64 << 20)
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    for args in (["--mem", "16M"], ["-n", "5", "--mem", "128K"]):  # in memory; -n streams
        proc = sb.run(src, "-T", ram, *args)
        assert proc.returncode == 0 and proc.stderr == b"", args


# -- the default: /tmp in RAM -----------------------------------------------------------------


def _in_namespace(script: str, stdin: Path, system_temp: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``script`` (sh) in a private mount namespace, ``$SB`` being the command, with
    ``system_temp`` as the system's temp dir (``TEMP``, which :func:`tempfile.gettempdir`
    takes when ``TMPDIR`` is unset: a tmpfs over /tmp itself would hide an interpreter or
    a checkout that lives under /tmp); skip where namespaces or mounts are not allowed."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private mount namespace needs root and unshare(1)")
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount is not allowed: {probe.stderr.decode(errors='replace').strip()}")
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    env["TEMP"] = str(system_temp)
    env["SB"] = f"{sys.executable} -m shuf_big"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    with stdin.open("rb") as data:
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
            stdin=data,
            capture_output=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )


def test_default_tmp_in_ram_gives_way_to_var_tmp(sb: ShufBig, tmp_path: Path) -> None:
    """The system's temp dir is a 64 KiB tmpfs, far too small for the run: it succeeds
    through /var/tmp (here a directory of this test, on disk, bind-mounted there)."""
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    var_tmp = tmp_path / "var-tmp"
    var_tmp.mkdir()
    system = tmp_path / "system-tmp"
    system.mkdir()
    expected = sb.run(src, "--seed", "6", "--mem", "128K").stdout
    proc = _in_namespace(
        f"mount --bind {var_tmp} /var/tmp; mount -t tmpfs -o size=64k tmpfs {system}; exec $SB --seed 6 --mem 128K -v",
        src,
        system,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == expected
    assert "of temp files in /var/tmp\n" in proc.stderr.decode()
    assert "warning" not in proc.stderr.decode()
    assert os.listdir(var_tmp) == []  # removed at the end


def test_default_tmp_in_ram_stays_when_var_tmp_is_not_writable(sb: ShufBig, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    system = tmp_path / "system-tmp"
    system.mkdir()
    expected = sb.run(src, "--seed", "7", "--mem", "128K").stdout
    proc = _in_namespace(
        f"mount -t tmpfs -o size=64m tmpfs {system}; mount -t tmpfs -o ro,size=64k tmpfs /var/tmp; "
        "exec $SB --seed 7 --mem 128K -v",
        src,
        system,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == expected
    stderr = proc.stderr.decode()
    assert stderr.startswith(
        f"shuf-big: warning: temporary directory '{system}' is in RAM (tmpfs): its files will take about 197.3 KiB"
    )
    assert f"of temp files in {system}\n" in stderr
