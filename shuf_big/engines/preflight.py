"""Checks before the first byte is shuffled: every input can be read, every output's
directory takes files, and (when the output's size is known) its filesystem has room.

A typo in a list of thousands of shards, an output directory that is read-only or a full
disk is reported at once, naming the file (and its line in ``--files-from``), with nothing
written, instead of hours into a run.  Every engine calls :func:`check_job` from its
``check`` step; what changes during the run (a file deleted meanwhile) is still reported
where it happens.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from shuf_big.budget.sizes import format_size
from shuf_big.errors import ShufBigError, describe
from shuf_big.files.compression import compression_of
from shuf_big.files.inputs import size_on_disk, stdin_offset
from shuf_big.files.outputs import descriptor_of
from shuf_big.files.shards import shard_names
from shuf_big.job import Job
from shuf_big.storage.store import Store
from shuf_big.storage.urls import is_url


@dataclass(frozen=True)
class Listed:
    """An input named in a ``--files-from`` list, and where: ``LIST:LINE`` for messages."""

    path: str
    origin: str


def read_files_from(list_path: str) -> list[Listed]:
    """The paths listed one per line in ``list_path`` (``-``: standard input), with their
    line numbers; blank lines (also of white space only) are skipped but counted."""
    try:
        if list_path == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(list_path, "rb") as f:
                text = f.read()
    except OSError as err:
        raise ShufBigError(f"cannot read file list '{list_path}': {describe(err)}") from None
    listed = [
        Listed(os.fsdecode(line), f"{list_path}:{number}")
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]
    if not listed:
        raise ShufBigError(f"no input files listed in '{list_path}'")
    return listed


def _unreadable(path: str) -> str | None:
    """Why input ``path`` cannot be read, in the words opening it would give, or None."""
    try:
        st = os.stat(path)
    except OSError as err:
        return f"cannot open '{path}': {describe(err)}"
    if stat.S_ISDIR(st.st_mode):
        return f"cannot read '{path}': Is a directory"
    if stat.S_ISREG(st.st_mode):
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)))
        except OSError as err:
            return f"cannot open '{path}': {describe(err)}"
    elif not os.access(path, os.R_OK):  # a FIFO or device: opening it could block or take data
        return f"cannot open '{path}': {os.strerror(errno.EACCES)}"
    return None


def check_inputs(inputs: Sequence[object], origins: Sequence[str] = (), store: Store | None = None) -> None:
    """Fail on the first input path that is missing, unreadable or a directory, naming it
    (with ``LIST:LINE:`` for a ``--files-from`` entry); a URL is listed in its store (which
    remembers what it said).  Standard input and file objects are not checked here."""
    for number, path in enumerate(inputs):
        if not isinstance(path, str) or path == "-":
            continue
        if is_url(path):
            (store or Store()).info(path, origins[number] if origins else "")
            continue
        problem = _unreadable(path)
        if problem is not None:
            raise ShufBigError(f"{origins[number]}: {problem}" if origins else problem)


def known_size(
    inputs: Sequence[object], decompress: str | None, paragraphs: bool, store: Store | None = None
) -> int | None:
    """The bytes the inputs hold if they are all plain regular files (standard input too,
    when redirected from one), read as they are: about the output's size.  Else None."""
    if decompress is not None or paragraphs:
        return None
    return size_on_disk(inputs, stdin_offset() if "-" in inputs else None, compressed=False, store=store)


def _folder_of(name: str) -> str | None:
    """The directory the output ``name`` is written in (its temp file beside it), checked
    to take files; None for a device, FIFO or descriptor, written in place."""
    if descriptor_of(name) is not None:
        return None
    try:
        st: os.stat_result | None = os.stat(name)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise ShufBigError(f"cannot open '{name}' for writing: {describe(err)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ShufBigError(f"cannot open '{name}' for writing: Is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(name, os.W_OK):
            raise ShufBigError(f"cannot open '{name}' for writing: {os.strerror(errno.EACCES)}")
        return None
    folder = os.path.dirname(os.path.realpath(name)) or "."
    try:
        is_dir = stat.S_ISDIR(os.stat(folder).st_mode)
    except OSError as err:
        raise ShufBigError(f"cannot open '{name}' for writing: {describe(err)}") from None
    if not is_dir:
        raise ShufBigError(f"cannot open '{name}' for writing: {os.strerror(errno.ENOTDIR)}")
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        raise ShufBigError(
            f"cannot open '{name}' for writing: {os.strerror(errno.EROFS if read_only else errno.EACCES)}"
        )
    return folder


def check_outputs(
    outputs: Sequence[object],
    shards: int | None,
    sizes: Sequence[int | None],
    store: Store | None = None,
) -> None:
    """Fail if an output (every shard of a pattern) cannot be created in its directory, or
    if a filesystem lacks room for the outputs written to it: output ``i`` is about
    ``sizes[i]`` bytes when known, and is written beside an existing file before it
    replaces it, so it needs all of that free.  A URL's store is asked whether it takes
    the object (an upload started and aborted).  Standard output and file objects are not
    checked here."""
    need: dict[int, tuple[str, str, int]] = {}  # device: (folder, first name, bytes)
    for out, size in zip(outputs, sizes, strict=True):
        if not isinstance(out, str) or out == "-":
            continue
        names = shard_names(out, shards) if shards is not None else [out]
        for name in names:
            if is_url(name):
                (store or Store()).check_writable(name)
                continue
            folder = _folder_of(name)
            if folder is None or size is None:
                continue
            device = os.stat(folder).st_dev
            where, first, nbytes = need.get(device, (folder, name, 0))
            need[device] = (where, first, nbytes + size // len(names))
    for folder, name, nbytes in need.values():
        free = shutil.disk_usage(folder).free
        if free < nbytes:
            raise ShufBigError(
                f"not enough space for '{name}' in '{folder}': "
                f"need about {format_size(nbytes)}, {format_size(free)} free"
            )


def store_for(job: Job) -> Store:
    """The object storage of ``job``: its storage options, transfers sized by its plan, and
    outputs staged (where a store needs that) in its first temp dir."""
    plan = job.plan
    fetch = (plan.fetch_block, plan.fetch_depth)
    return Store(job.storage_options, fetch, (plan.upload_part, plan.upload_parallel), job.temp_dirs[0])


def check_job(job: Job, store: Store | None = None) -> None:
    """Every input readable, every output creatable with room for it, or a one-line error.

    ``-n 0`` opens no input (as GNU shuf), and ``-e``/``-i`` have none.  The output's size
    is known only when it is a plain copy of plain input files in another order: no
    ``-n``, no ``-r``, no compression on either side, no paragraph normalising.
    """
    if job.head_count != 0 and job.echo is None and job.input_range is None:
        check_inputs(job.inputs, job.origins, store)
    groups = [[where] for where in job.inputs] if job.aligned else [list(job.inputs)]
    sizes: list[int | None] = []
    for number, out in enumerate(job.outputs):
        plain = isinstance(out, str) and compression_of(out) is None and number < len(groups)
        if plain and job.head_count is None and not job.generated:
            sizes.append(known_size(groups[number], job.decompress, job.sep.paragraphs, store))
        else:
            sizes.append(None)
    check_outputs(job.outputs, job.shards, sizes, store)
