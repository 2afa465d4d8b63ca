"""Temp directories in RAM: a tmpfs or ramfs ``-T`` holds bucket files in memory, beyond
``--mem``, so shuf-big avoids one by default and warns about one the user chose."""

from __future__ import annotations

import os
import re
import tempfile
import warnings

from shuf_big.budget.sizes import format_size
from shuf_big.errors import RamTempWarning

# Filesystems whose files live in memory (or swap): temp files there are outside --mem.
RAM_FILESYSTEMS = ("tmpfs", "ramfs")
# Where large temp files go when /tmp is in RAM, as systemd recommends (file-hierarchy(7)).
DISK_TEMP = "/var/tmp"
MOUNTINFO = "/proc/self/mountinfo"


def warn_if_in_ram(where: str, share: int | None) -> None:
    kind = filesystem_type(where)
    if kind not in RAM_FILESYSTEMS:
        return
    amount = "as much memory as the input" if share is None else f"about {format_size(share)} of memory"
    warnings.warn(
        RamTempWarning(
            f"temporary directory '{where}' is in RAM ({kind}): its files will take {amount}, "
            "beyond --mem (use -T DIR on a disk)"
        ),
        stacklevel=2,
    )


def _unescape_octal(field: str) -> str:
    """A mountinfo path: space, tab, newline and backslash are written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str, mountinfo: str = MOUNTINFO) -> str | None:
    """The type of the filesystem ``path`` is on (``tmpfs``, ``ext4``...), from the mount
    table: the longest mount point containing it, the last mounted if several are stacked.
    None where there is no mount table (not Linux)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = -1, None
    for line in lines:
        fields, _, after = line.partition(" - ")
        parts = fields.split(" ")
        if len(parts) < 5 or not after:
            continue
        point = _unescape_octal(parts[4])
        inside = point == "/" or target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, kind = len(point), after.split(" ")[0]
    return kind


def in_ram(path: str) -> bool:
    """Whether files under ``path`` live in memory (tmpfs, ramfs)."""
    return filesystem_type(path) in RAM_FILESYSTEMS


def default_temp_dirs() -> list[str]:
    """``$TMPDIR``; else the system's temp dir, unless it is in RAM and /var/tmp is a
    writable directory on disk: a corpus's temp files would take memory beyond ``--mem``."""
    chosen = os.environ.get("TMPDIR")
    if chosen:
        return [chosen]
    system = tempfile.gettempdir()
    if (
        in_ram(system)
        and os.path.isdir(DISK_TEMP)
        and os.access(DISK_TEMP, os.W_OK | os.X_OK)
        and not in_ram(DISK_TEMP)
    ):
        return [DISK_TEMP]
    return [system]
