"""The memory this process may really use: the base of ``--mem N%`` and of the default budget.

In a Kubernetes pod or a Slurm allocation the cgroup limit is far below the node's RAM, and
a share of physical RAM would send the run past it, into the OOM killer.  So the base is the
least of physical RAM, the cgroup memory limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``, the tightest of the process's cgroup and its ancestors) and the
``RLIMIT_AS`` / ``RLIMIT_DATA`` soft limits.

The environment variables ``SHUF_BIG_PROC_CGROUP`` (instead of ``/proc/self/cgroup``) and
``SHUF_BIG_CGROUP_ROOT`` (instead of ``/sys/fs/cgroup``) point at a fake cgroup tree: the
tests use them to run the real command under a limit this machine does not have.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

PROC_CGROUP_ENV = "SHUF_BIG_PROC_CGROUP"
CGROUP_ROOT_ENV = "SHUF_BIG_CGROUP_ROOT"
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number; nothing
# real comes near 2**62 bytes.
_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class MemoryLimit:
    """A number of bytes and what sets it, for messages (``cgroup limit in .../memory.max``)."""

    nbytes: int
    source: str


def physical_memory() -> int:
    """Bytes of physical RAM."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _read_limit(path: str) -> int | None:
    """A cgroup limit file's value; None for a missing file, ``max`` or v1's sentinel."""
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None  # "max": unlimited
    value = int(text)
    return value if value < _UNLIMITED else None


def _hierarchies(proc_cgroup: str) -> list[tuple[str, str]]:
    """``(kind, path)`` of this process's memory-relevant cgroups: ``("v2", path)`` for the
    unified hierarchy, ``("v1", path)`` for the v1 memory controller's."""
    try:
        with open(proc_cgroup) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            found.append(("v2", path))
        elif "memory" in controllers.split(","):
            found.append(("v1", path))
    return found


def _mounts(root: str, kind: str) -> list[str]:
    """Where a hierarchy is mounted under ``root``: v2 at the root itself or at ``unified``
    (hybrid systems), v1's memory controller at ``memory`` (or ``memory,...``)."""
    if kind == "v2":
        return [
            d for d in (root, os.path.join(root, "unified")) if os.path.exists(os.path.join(d, "cgroup.controllers"))
        ]
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [os.path.join(root, name) for name in names if "memory" in name.split(",")]


def _chain(mount: str, path: str) -> list[str]:
    """The directories of the cgroup ``path`` and its ancestors visible under ``mount``.

    A container without its own cgroup namespace sees its full cgroup path in
    ``/proc/self/cgroup`` but has only its own subtree mounted: the mount's root then stands
    for a leading part of the path, found as the shortest prefix whose remainder exists.
    """
    parts = [p for p in path.split("/") if p]
    if ".." in parts:  # outside this cgroup namespace's root: only the root is visible
        parts = []
    for skip in range(len(parts) + 1):
        rest = parts[skip:]
        if os.path.isdir(os.path.join(mount, *rest)):
            return [os.path.join(mount, *rest[:depth]) for depth in range(len(rest) + 1)]
    return []


def cgroup_limit(proc_cgroup: str | None = None, root: str | None = None) -> MemoryLimit | None:
    """The tightest cgroup memory limit on this process and its ancestors, v1 or v2;
    None when there is none (or no cgroup filesystem)."""
    proc_cgroup = proc_cgroup or os.environ.get(PROC_CGROUP_ENV) or "/proc/self/cgroup"
    root = root or os.environ.get(CGROUP_ROOT_ENV) or "/sys/fs/cgroup"
    best: MemoryLimit | None = None
    for kind, path in _hierarchies(proc_cgroup):
        name = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
        for mount in _mounts(root, kind):
            for folder in _chain(mount, path):
                file = os.path.join(folder, name)
                value = _read_limit(file)
                if value is not None and (best is None or value < best.nbytes):
                    best = MemoryLimit(value, f"cgroup limit in {file}")
    return best


def rlimits() -> list[MemoryLimit]:
    """The ``RLIMIT_AS`` and ``RLIMIT_DATA`` soft limits that are set."""
    found = []
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        which = getattr(resource, name, None)
        if which is None:
            continue
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            found.append(MemoryLimit(soft, name))
    return found


def available_memory(proc_cgroup: str | None = None, cgroup_root: str | None = None) -> MemoryLimit:
    """The least of physical RAM, the cgroup limit and the rlimits: what ``N%`` is a share of."""
    limits = [MemoryLimit(physical_memory(), "physical memory"), *rlimits()]
    cgroup = cgroup_limit(proc_cgroup, cgroup_root)
    if cgroup is not None:
        limits.append(cgroup)
    return min(limits, key=lambda limit: limit.nbytes)
