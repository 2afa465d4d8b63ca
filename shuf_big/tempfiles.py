"""Temp space: private per-run directories, stale leftovers of killed runs, RAM-backed
directories, open-file limits."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import tempfile
import warnings

from .errors import RamTempWarning, ShufBigError, describe
from .signals import deferred_signals
from .sizes import format_size

TEMP_PREFIX = "shuf-big-"


OUTPUT_SUFFIX = ".shuf-big.tmp"

# Filesystems whose files live in memory (or swap): temp files there are outside --mem.
RAM_FILESYSTEMS = ("tmpfs", "ramfs")
# Where large temp files go when /tmp is in RAM, as systemd recommends (file-hierarchy(7)).
DISK_TEMP = "/var/tmp"
MOUNTINFO = "/proc/self/mountinfo"
# Room asked for beyond the bucket files' size in each temp location (file system overhead).
SPACE_SLACK = 1 << 20


_HOST = os.uname().nodename  # socket.gethostname(), without loading socket


def owner_tag() -> str:
    """``host-pid-``: lets a later run tell whether a temp file's owner is still alive."""
    return f"{_HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def reap_stale(folder: str, prefix: str, suffix: str = "") -> list[str]:
    """Remove ``prefix + host-pid-XXXX + suffix`` entries whose process is gone.

    A run killed with SIGKILL cannot clean up; the next run on the same host removes what
    it left.  Entries of live processes, other hosts (shared storage) and names that do
    not parse are left alone.
    """
    pattern = re.compile(re.escape(prefix + _HOST) + r"-(\d+)-[^-./]+" + re.escape(suffix) + "$")
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or _alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(path)
    return removed


class TempDirs:
    """Private ``shuf-big-HOST-PID-*`` directories, one per ``-T`` location, removed on
    exit; ones left by a killed run on this host are removed by the next run."""

    def __init__(self, locations: list[str]) -> None:
        self.locations = locations
        self.paths: list[str] = []
        self.warned = False  # about RAM-backed locations

    def create(self) -> list[str]:
        for where in self.locations:
            if not os.path.isdir(where):
                raise ShufBigError(f"cannot use temporary directory '{where}': No such directory")
            reap_stale(where, TEMP_PREFIX)
            try:
                with deferred_signals():
                    self.paths.append(tempfile.mkdtemp(prefix=TEMP_PREFIX + owner_tag(), dir=where))
            except OSError as err:
                raise ShufBigError(f"cannot create temporary directory in '{where}': {describe(err)}") from None
        return self.paths

    def check_space(self, needed: int | None) -> None:
        """Fail early when the temp locations cannot hold ``needed`` bytes between them
        (None: a stream of unknown size); warn, once, about those in RAM."""
        share = None if needed is None else needed // max(len(self.locations), 1)
        if not self.warned:
            self.warned = True
            for where in self.locations:
                _warn_if_in_ram(where, share)
        if share is None:
            return
        share += SPACE_SLACK
        for where in self.locations:
            free = shutil.disk_usage(where).free
            if free < share:
                raise ShufBigError(
                    f"not enough space in temporary directory '{where}': "
                    f"need about {format_size(share)}, {format_size(free)} free (use -T)"
                )

    def remove(self) -> None:
        for path in self.paths:
            shutil.rmtree(path, ignore_errors=True)
        self.paths = []


def _warn_if_in_ram(where: str, share: int | None) -> None:
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


def _unescape(field: str) -> str:
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
        point = _unescape(parts[4])
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


def fd_fanout_bits() -> int:
    """How many bucket-count bits the open-file limit allows (2 files per bucket).

    Raises the soft limit to the hard one first, as most servers and sort(1)'s callers
    do.  Called once per run by the local engines: the plan itself stays pure.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 1 << 20), hard))
            soft = min(want, 1 << 20)
        except (ValueError, OSError):
            pass
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 16
    spare = (soft - in_use - 16) // 2
    if spare < 2:
        raise ShufBigError(f"too few file descriptors: the open-file limit is {soft}")
    return min(spare.bit_length() - 1, 16)
