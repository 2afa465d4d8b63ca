"""Temp space: nameless temp files (``O_TMPFILE``) or private per-run directories, stale
leftovers of killed runs, open-file limits, the space they need.

On Linux a temp file is created without a name, in the directory it belongs to
(``open(dir, O_TMPFILE)``): it lives only as long as its descriptor, so a run killed by
SIGKILL or the OOM killer leaves nothing on disk and the kernel frees the space at once.
Where the file system refuses that (NFS, some FUSE file systems, old kernels) temp files
get names in a private ``shuf-big-HOST-PID-*`` directory, which a later run on the same
host removes if its owner died.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from shuf_big.errors import ShufBigError, describe
from shuf_big.system.mounts import warn_if_in_ram
from shuf_big.system.signals import deferred_signals
from shuf_big.system.space import shortfall, space_error

TEMP_PREFIX = "shuf-big-"
OUTPUT_SUFFIX = ".shuf-big.tmp"

_HOST = os.uname().nodename  # socket.gethostname(), without loading socket

# Set to 1 to give every temp file a name, as on a file system without O_TMPFILE (tests).
NAMED_ENV = "SHUF_BIG_NAMED_TEMP_FILES"

# What open(O_TMPFILE) fails with where the file system or kernel lacks it.
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL, errno.ENOSYS}

# Descriptors kept free for everything that is not a bucket file (inputs, Python, threads).
FD_RESERVE = 16


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


def open_nameless(folder: str, flags: int, mode: int = 0o600) -> int | None:
    """A new file without a name in ``folder`` (``O_TMPFILE``), open with ``flags``
    (``O_WRONLY`` or ``O_RDWR``); None where the file system refuses such files, or
    :data:`NAMED_ENV` asks for names.  Other errors (permissions, no space) are raised.

    Linking it into place later (:func:`link_into_place`) goes through ``/proc/self/fd``,
    so without /proc files get names too.
    """
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if not tmpfile or os.environ.get(NAMED_ENV, "0") not in ("", "0") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flags | tmpfile | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno in _NO_TMPFILE:
            return None
        raise


def commit_nameless(fd: int, target: str, mode: int) -> None:
    """Give the nameless file ``fd`` (open for reading and writing) the name ``target``,
    replacing a file there, with signals held.

    ``linkat(AT_SYMLINK_FOLLOW)`` on ``/proc/self/fd/N``, through a directory descriptor
    (``os.link`` without one calls ``link()``, which does not follow the link).  With no
    file at ``target`` the file is linked there directly; otherwise it is linked to a
    hidden name beside it (``linkat`` cannot replace) and renamed over ``target``.  Where
    the link is refused (a restricted /proc), the bytes are copied to a hidden file with
    ``mode`` instead.  Only SIGKILL can leave a hidden name, for :func:`reap_stale`.
    """
    folder, base = os.path.split(target)

    def hidden() -> str:
        return os.path.join(folder, f".{base}.{owner_tag()}{secrets.token_hex(4)}{OUTPUT_SUFFIX}")

    with deferred_signals():
        try:
            _link_into_place(fd, target, hidden)
        except OSError:
            _copy_into_place(fd, target, mode, hidden)


def _link_into_place(fd: int, target: str, hidden: Callable[[], str]) -> None:
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.link(str(fd), target, src_dir_fd=proc, follow_symlinks=True)
            return
        except FileExistsError:
            pass
        while True:
            name = hidden()
            try:
                os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
                break
            except FileExistsError:
                continue
        _replace(name, target)
    finally:
        os.close(proc)


def _copy_into_place(fd: int, target: str, mode: int, hidden: Callable[[], str]) -> None:
    while True:
        name = hidden()
        try:
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        size, done = os.fstat(fd).st_size, 0
        while done < size:
            sent = os.sendfile(out, fd, done, size - done)
            if not sent:
                raise OSError(errno.EIO, "the file shrank while being copied", target)
            done += sent
        os.fchmod(out, mode)
    except OSError:
        os.close(out)
        os.unlink(name)
        raise
    os.close(out)
    _replace(name, target)


def _replace(name: str, target: str) -> None:
    """Rename ``name`` over ``target``; on failure ``name`` is removed."""
    try:
        os.replace(name, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


@dataclass(eq=False)
class TempFile:
    """An open temp file: nameless (``path`` None) or named in a private directory.

    It is read back through its descriptor; closing it frees its space (and removes its
    name)."""

    fd: int
    path: str | None
    folder: str
    owner: set[TempFile] | None = field(default=None, repr=False)

    @property
    def what(self) -> str:
        """How messages name it."""
        return f"temporary file '{self.path}'" if self.path else f"a temporary file in '{self.folder}'"

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        """Close (idempotent) and remove its name."""
        if self.fd >= 0:
            # Forgotten before it is closed: a signal raised just after os.close returns
            # must not leave the number to be closed again, maybe reused by then.
            fd, self.fd = self.fd, -1
            os.close(fd)
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None
        if self.owner is not None:
            self.owner.discard(self)
            self.owner = None


def private_dir(where: str, record: list[str]) -> str:
    """A new ``shuf-big-HOST-PID-*`` directory in ``where``, appended to ``record`` before
    any signal can interrupt (so it is always removed), and returned."""
    try:
        with deferred_signals():
            record.append(tempfile.mkdtemp(prefix=TEMP_PREFIX + owner_tag(), dir=where))
    except OSError as err:
        raise ShufBigError(f"cannot create temporary directory in '{where}': {describe(err)}") from None
    return record[-1]


def scratch_dir(where: str, record: list[str]) -> str:
    """A private directory in ``where`` for another program's scratch files (a Dask
    cluster's), stale ones of dead runs there removed first; see :func:`private_dir`."""
    if not os.path.isdir(where):
        raise ShufBigError(f"cannot use temporary directory '{where}': No such directory")
    reap_stale(where, TEMP_PREFIX)
    return private_dir(where, record)


class TempDirs:
    """Where one run's temp files go, one folder per ``-T`` location, all removed on exit.

    A location whose file system takes ``O_TMPFILE`` gets nameless files, straight in it;
    any other gets a private ``shuf-big-HOST-PID-*`` directory of named files.  A private
    directory left by a killed run on this host is removed by the next run.  ``reserved``
    descriptors are kept for files opened besides the buckets (the outputs).
    """

    def __init__(self, locations: list[str], reserved: int = 0) -> None:
        self.locations = locations
        self.reserved = reserved
        self.paths: list[str] = []  # private directories created (removed on exit)
        self.folders: list[str] = []  # where each location's files go
        self.nameless: list[bool] = []
        self.files: set[TempFile] = set()  # open, closed on exit
        self.warned = False  # about RAM-backed locations

    def create(self) -> list[str]:
        """Prepare every location (once per run); returns the folders files go to."""
        if self.folders:
            return self.folders
        for where in self.locations:
            if not os.path.isdir(where):
                raise ShufBigError(f"cannot use temporary directory '{where}': No such directory")
            reap_stale(where, TEMP_PREFIX)
            try:
                probe = open_nameless(where, os.O_RDWR)
            except OSError as err:
                raise ShufBigError(f"cannot create temporary file in '{where}': {describe(err)}") from None
            if probe is not None:
                os.close(probe)
                self.folders.append(where)
                self.nameless.append(True)
                continue
            self.folders.append(private_dir(where, self.paths))
            self.nameless.append(False)
        return self.folders

    def open_file(self, number: int, name: str) -> TempFile:
        """A new temp file, open for reading and writing, in location ``number`` (modulo
        their count); ``name`` is its name where files have names."""
        i = number % len(self.folders)
        folder = self.folders[i]
        fd = open_nameless(folder, os.O_RDWR) if self.nameless[i] else None
        path = None
        if fd is None:
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        file = TempFile(fd, path, folder, self.files)
        self.files.add(file)
        return file

    def fanout_bits(self) -> int:
        """Bucket-count bits for a new level of buckets, from the descriptors free now."""
        # Without room for the outputs' descriptors too, try without them: pass 2 closes
        # bucket files as it opens output files, so they are rarely all open at once.
        bits = fd_fanout_bits(self.reserved) or fd_fanout_bits()
        if not bits:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            raise ShufBigError(f"too few file descriptors: the open-file limit is {soft}")
        return bits

    def check_space(self, needed: int | None, plain: int | None = None) -> None:
        """Fail early when the temp locations cannot hold ``needed`` bytes between them
        (None: a stream of unknown size; ``plain``: a plain run's need, when ``needed`` is
        the compressed estimate); warn, once, about those in RAM."""
        if not self.warned:
            self.warned = True
            for where in self.locations:
                warn_if_in_ram(where, None if needed is None else needed // max(len(self.locations), 1))
        room = shortfall(self.locations, needed)
        if room is not None and needed is not None:
            raise ShufBigError(space_error(room, self.locations, needed, plain))

    def fits(self, needed: int) -> bool:
        """Whether every file system of the temp locations has room for its share of ``needed``."""
        return shortfall(self.locations, needed) is None

    def remove(self) -> None:
        """Close every temp file still open and remove the private directories."""
        for file in list(self.files):
            file.close()
        for path in self.paths:
            shutil.rmtree(path, ignore_errors=True)
        self.paths = []
        self.folders = []
        self.nameless = []


def fd_fanout_bits(reserved: int = 0) -> int:
    """How many bucket-count bits the descriptors free now allow a new level of buckets.

    A bucket is two files, held open from its creation until it is ordered (nameless
    files live only through their descriptors), so pass 1's buckets are still open while
    pass 2 splits one of them, and a split's while one of its own is split.  Each level
    takes at most half the descriptors still free, leaving the other half to the levels
    below it; ``reserved`` more are kept for the outputs.

    Raises the soft limit to the hard one first, as most servers and sort(1)'s callers
    do.  Called by the local engines for the plan (the plan itself stays pure) and for
    each level of buckets (:meth:`TempDirs.fanout_bits`, which fails on 0: a run that
    needs no buckets does not).
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
    free = soft - in_use - FD_RESERVE - reserved
    buckets = free // 4 if free >= 8 else free // 2  # half the free descriptors, 2 per bucket
    return min(max(buckets, 1).bit_length() - 1, 16)  # 0: no room for two buckets
