"""Temp space: private per-run directories, stale leftovers of killed runs, open-file limits."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import tempfile

from .errors import ShufBigError, describe
from .signals import deferred_signals
from .sizes import format_size

TEMP_PREFIX = "shuf-big-"


OUTPUT_SUFFIX = ".shuf-big.tmp"


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

    def check_space(self, needed: int) -> None:
        """Fail early when the temp locations cannot hold ``needed`` bytes between them."""
        share = needed // max(len(self.locations), 1)
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


def default_temp_dirs() -> list[str]:
    return [os.environ.get("TMPDIR") or tempfile.gettempdir()]


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
