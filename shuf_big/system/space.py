"""Free space of the temp locations, counted once per file system.

Bucket files are spread evenly over the locations (``-T`` options), so a file system holds
its locations' shares of the total; several on one file system share its free space, and
locations on distinct file systems add theirs up.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from shuf_big.budget.sizes import format_size

SPACE_SLACK = 1 << 20  # per file system, beside the estimate
GAP_BYTES = 2.1  # temp bytes per record beside its own: index gaps coded in 2 bytes


def plain_need(size: int, average: float) -> int:
    """Temp bytes of a plain run over ``size`` input bytes of records of ``average`` bytes."""
    return int(size * (1 + GAP_BYTES / max(average, 1.0)))


@dataclass(frozen=True)
class Room:
    """One file system's temp locations and its free bytes."""

    folders: tuple[str, ...]
    free: int

    def named(self) -> str:
        listed = ", ".join(f"'{f}'" for f in self.folders)
        return f"temporary director{'ies' if len(self.folders) > 1 else 'y'} {listed}"


def rooms(locations: list[str]) -> list[Room]:
    """The file systems of ``locations``, in the order they first appear."""
    by_device: dict[int, list[str]] = {}
    for where in locations:
        by_device.setdefault(os.stat(where).st_dev, []).append(where)
    return [Room(tuple(folders), shutil.disk_usage(folders[0]).free) for folders in by_device.values()]


def share_of(room: Room, locations: list[str], needed: int) -> int:
    """What ``room`` must hold of ``needed`` bytes spread over ``locations``."""
    return needed * len(room.folders) // max(len(locations), 1) + SPACE_SLACK


def shortfall(locations: list[str], needed: int | None) -> Room | None:
    """The first file system without room for its share of ``needed`` bytes (None: all fit,
    or the need is unknown)."""
    if needed is None:
        return None
    for room in rooms(locations):
        if room.free < share_of(room, locations, needed):
            return room
    return None


def free_text(locations: list[str]) -> str:
    """``1.2 GiB free in '/scratch'``, per file system."""
    return ", ".join(f"{format_size(r.free)} free in {', '.join(repr(f) for f in r.folders)}" for r in rooms(locations))


def space_error(room: Room, locations: list[str], needed: int, plain: int | None) -> str:
    """The one-line error for ``room``: ``plain`` is a plain run's need when ``needed`` is
    that of compressed temp files."""
    need = format_size(share_of(room, locations, needed))
    if plain is None:
        return f"not enough space in {room.named()}: need about {need}, {format_size(room.free)} free (use -T)"
    return (
        f"not enough space in {room.named()} even for compressed temp files: need about {need} "
        f"({format_size(share_of(room, locations, plain))} uncompressed), {format_size(room.free)} free "
        "(use -T on a larger file system, or several on distinct ones)"
    )
