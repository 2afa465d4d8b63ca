"""Keep the C allocator from holding freed memory, so resident memory tracks the budget.

numpy frees every large temporary at once, but glibc raises its mmap threshold after the
first large free and then serves big arrays from a heap it rarely gives back: a run could
then sit at twice its budget.  Fixing both thresholds keeps large arrays in mmap (returned
on free) and bounds what the heap may keep, at no cost in speed (measured: 4.4 s vs 5.4 s
and 65 MB vs 66 MB RSS on 256 MB of short lines at --mem 32M; 3.3 s vs 4.7 s and 65 MB vs
102 MB on 3 KB lines).  Pass 2 instead reuses one buffer for each group's large arrays
(:class:`Arena`), so their pages are not zeroed again by the kernel for every group.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import DTypeLike

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    try:
        return ctypes.CDLL(None).mallopt  # glibc's, already loaded in this process
    except (OSError, AttributeError):
        return None


def tune_for_budget(mem: int) -> bool:
    """Set glibc's trim and mmap thresholds from the budget; False where not glibc."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    mmap_threshold = min(max(mem // 16, 256 << 10), 4 << 20)
    trim_threshold = min(max(mem // 4, 1 << 20), 32 << 20)
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    return mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and ok


class Arena:
    """One buffer carved into a group's large arrays, reused group after group.

    Every page the kernel hands out is zeroed first: allocating a group's arrays afresh
    for each group cost about 9 % of a run on short records (``clear_page``).  Arrays
    taken since the last :meth:`reset` are views of the buffer (or, past the size that
    reset was told, allocated apart).  The buffer is as large as the largest group's
    bound, and only the pages a group really used become resident.
    """

    def __init__(self) -> None:
        self.buffer: np.ndarray | None = None
        self.used = 0

    def empty(self, count: int, dtype: DTypeLike) -> np.ndarray:
        """An uninitialised 1-d array (as ``np.empty``), valid until the next :meth:`reset`."""
        kind = np.dtype(dtype)
        start = -(-self.used // 64) * 64
        self.used = start + count * kind.itemsize
        if self.buffer is not None and self.used <= len(self.buffer):
            return self.buffer[start : self.used].view(kind)
        return np.empty(count, dtype=kind)

    def reset(self, size: int, room: int) -> None:
        """Start a group whose arrays take at most ``size`` bytes (with 64 per array for
        alignment); every array taken so far must be dead.  A buffer too small is replaced
        by one of ``room`` bytes (at least ``size``), so that later, slightly larger groups
        still fit: its pages are resident only once used."""
        if self.buffer is None or size > len(self.buffer):
            self.buffer = None  # freed before the bigger one is made
            self.buffer = np.empty(max(size, room), dtype=np.uint8)
        self.used = 0

    def release(self) -> None:
        """Give the buffer back (before work that needs the memory for something else)."""
        self.buffer = None
        self.used = 0


@contextlib.contextmanager
def without_huge_pages() -> Iterator[None]:
    """numpy's large arrays without transparent huge pages while the block runs, and in the
    processes forked inside it (the Dask engine's local workers).  numpy asks for huge
    pages (``madvise``) for every array of 4 MiB or more; on this VM class a huge page is
    zeroed 2 MiB at a time and its faults vary widely (measured, Dask engine, 500 MB, two
    workers: docs 1.45-2.69 s with them, 1.69-1.92 s without; sentences 3.25-4.48 s with,
    2.49-3.40 s without).  A numpy without the switch (it is private) is left as it is."""
    core = getattr(np, "_core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)
