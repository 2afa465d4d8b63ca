"""The Dask engine's reduce tasks: buckets loaded from the spill files, ordered by key and
written straight to their place in the output (a byte range, an upload part, or pieces).

A bucket's records, offsets and keys are read into arrays taken from one buffer that each
worker thread keeps from task to task (:class:`~shuf_big.budget.malloc.Arena`): allocated
afresh for every bucket, their pages cost the kernel a zeroing each time (measured: about
a third of the reduce stage's CPU).  :func:`release_memory` gives them back at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from shuf_big import core
from shuf_big.budget.malloc import Arena
from shuf_big.budget.plan import Plan
from shuf_big.engines.dask.spills import NBYTES, RECORDS, load_rows, release_held
from shuf_big.engines.dask.tasks import Settings, task_plan
from shuf_big.errors import ShufBigError
from shuf_big.files.shards import ShardedOutput, ShardFile
from shuf_big.storage.parts import UploadPart

_local = threading.local()


def _arena() -> Arena:
    arena: Arena | None = getattr(_local, "arena", None)
    if arena is None:
        arena = _local.arena = Arena()
    return arena


def release_memory() -> None:
    """Drop this worker thread's reduce buffer (run on every worker when a shuffle ends)."""
    arena: Arena | None = getattr(_local, "arena", None)
    if arena is not None:
        arena.release()
    release_held()


def _whole(rows: np.ndarray, spills: list[str], settings: Settings, plan: Plan, arena: Arena) -> core.GroupOrder:
    """A bucket that fits the budget: its rows read straight into the arena's arrays."""
    nbytes, nrecords = int(rows[:, NBYTES].sum()), int(rows[:, RECORDS].sum())
    partitioned = plan.partitioned(nbytes, nrecords)
    arrays = core.group_arrays(nbytes, nrecords, partitioned)
    arena.reset(arrays, arrays + plan.order_budget - plan.order_need(nbytes, nrecords, partitioned))
    data = arena.empty(nbytes, np.uint8)
    bounds = arena.empty(nrecords + 1, np.int64)
    bounds[0] = 0
    keys = arena.empty(nrecords, np.uint64)
    window = max(plan.piece, 1 << 16)
    at = count = 0
    for part, indices in load_rows(rows, spills, settings.storage, settings.packed, into=data):
        n = len(indices)
        ends = bounds[count + 1 : count + 1 + n]
        if count + n > nrecords or core.ends_into(ends, part, settings.sep, window, at) != n:
            raise ShufBigError("temporary files are corrupt (record count mismatch)")
        keys[count : count + n] = core.draw_keys(settings.spec, indices)
        at += len(part)
        count += n
    if count != nrecords:
        raise ShufBigError("temporary files are corrupt (record count mismatch)")
    return core.GroupOrder(data, bounds, keys, plan.piece, partitioned, arena.empty)


def _subrange(
    rows: np.ndarray, spills: list[str], settings: Settings, plan: Plan, bits: int, j: int
) -> core.GroupOrder:
    """Sub-range ``j`` of the next ``bits`` key bits of a bucket too large for the budget
    (rare: buckets are planned at half of it), gathered row by row."""
    datas, lengths, keys = [], [], []
    window = max(plan.piece, 1 << 16)
    for data, indices in load_rows(rows, spills, settings.storage, settings.packed):
        bounds = np.empty(len(indices) + 1, dtype=np.int64)
        if core.frame_into(bounds, data, settings.sep, window) != len(indices):
            raise ShufBigError("temporary files are corrupt (record count mismatch)")
        k = core.draw_keys(settings.spec, indices)
        keep = np.flatnonzero(core.bucket_ids(k, settings.fanout_bits, bits) == j)
        starts, lens = bounds[keep], bounds[keep + 1] - bounds[keep]
        picked = np.empty(int(lens.sum()), dtype=np.uint8)
        core.gather_into(picked, data, starts, lens, plan.piece)
        datas.append(picked)
        lengths.append(lens)
        keys.append(k[keep])
    lens = np.concatenate(lengths) if lengths else np.empty(0, dtype=np.int64)
    bounds = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    data = np.concatenate(datas) if datas else np.empty(0, dtype=np.uint8)
    all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
    return core.GroupOrder(data, bounds, all_keys, plan.piece, plan.partitioned(len(data), len(all_keys)))


def _ordered(rows: np.ndarray, spills: list[str], settings: Settings, plan: Plan) -> Iterator[core.GroupOrder]:
    """The bucket of ``rows`` ordered: whole, or one sub-range of its next key bits at a time."""
    need = plan.order_need(int(rows[:, NBYTES].sum()), int(rows[:, RECORDS].sum()), partitioned=False)
    if need <= plan.order_budget:
        yield _whole(rows, spills, settings, plan, _arena())
        return
    release_memory()  # the sub-ranges' arrays take its memory
    bits = min(plan.bucket_bits(need), 16, 64 - settings.fanout_bits)
    for j in range(1 << bits):
        yield _subrange(rows, spills, settings, plan, bits, j)


def reduce_buckets(
    buckets: list[np.ndarray], spills: list[str], files: list[ShardFile], limits: list[int], settings: Settings
) -> list[Any]:
    """Stage 3: order each bucket of ``buckets`` (their index rows, consecutive in key
    order) and write them one after another to ``files`` (file ``p`` ends after record
    ``limits[p]`` of these buckets); returns each upload part's entry for the completion."""
    plan = task_plan(settings.mem)
    sink = ShardedOutput(files, settings.sep, limits)
    try:
        for rows in buckets:
            for group in _ordered(rows, spills, settings, plan):
                for b in range(group.count):
                    sink.write(group.parts(b), group.records(b))
                del group
        sink.commit()
    except BaseException:
        sink.discard()
        raise
    return [f.result() for f in files if isinstance(f, UploadPart)]
