"""Every byte of a list of buffers to a file descriptor, in as few system calls as the
kernel allows (one ``writev`` for up to ``IOV_MAX`` buffers: a shuffled bucket of long
records is one buffer per record)."""

from __future__ import annotations

import os

IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def write_all(fd: int, parts: list[memoryview], at: int | None = None) -> int:
    """``writev`` (``pwritev`` at byte ``at``, if given) every byte of ``parts`` to ``fd``,
    retrying short writes; return the count."""
    total = 0
    pending = [p for p in parts if len(p)]
    pending.reverse()  # pop from the end: cheap
    while pending:
        batch = pending[-1 : -IOV_MAX - 1 : -1]
        done = os.writev(fd, batch) if at is None else os.pwritev(fd, batch, at + total)
        total += done
        while pending and done >= len(pending[-1]):
            done -= len(pending.pop())
        if pending and done:
            pending[-1] = pending[-1][done:]
    return total
