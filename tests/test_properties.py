"""Properties over random inputs (hypothesis), through the Python API with temp files.

For arbitrary bytes, newline or NUL separators, random sizes, any --mem from 64K up, -j 1-3
and any seed: the output is a permutation of the input's records (the last one terminated
if it was not), and the same seed gives the same bytes whatever --mem and -j.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import shuf_big
from shuf_big.budget.plan import Plan

KiB = 1 << 10


def records_of(blob: bytes, sep: bytes) -> list[bytes]:
    """The records as shuf-big frames them: each ends with ``sep`` (added to the last if missing)."""
    if not blob:
        return []
    if not blob.endswith(sep):
        blob += sep
    return [r + sep for r in blob[:-1].split(sep)]


@st.composite
def inputs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(blob, separator): hypothesis-built records, or large random byte strings."""
    sep = draw(st.sampled_from([b"\n", b"\0"]))
    if draw(st.booleans()):
        parts = draw(st.lists(st.binary(max_size=120), max_size=300))
        blob = sep.join(parts) + draw(st.sampled_from([b"", sep]))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        size = int(rng.integers(0, 200_000))
        density = draw(st.sampled_from([1 / 4, 1 / 16, 1 / 256, 1 / 4096]))  # short to very long records
        data = rng.integers(0, 256, size, dtype=np.uint8)
        data[rng.random(size) < density] = sep[0]
        blob = data.tobytes()
    return blob, sep


mems = st.one_of(st.integers(64 * KiB, 256 * KiB), st.integers(64 * KiB, 4 * KiB * KiB))  # mostly small
jobs = st.sampled_from([1, 2, 3])


@given(inputs(), mems, jobs, mems, jobs, st.integers(0, 2**64 - 1))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_permutation_and_same_bytes_for_any_mem_and_jobs(
    tmp_path: Path, case: tuple[bytes, bytes], mem_a: int, jobs_a: int, mem_b: int, jobs_b: int, seed: int
) -> None:
    blob, sep = case
    src, out_a, out_b = tmp_path / "in.bin", tmp_path / "a.bin", tmp_path / "b.bin"
    src.write_bytes(blob)
    common = {"seed": seed, "zero_terminated": sep == b"\0", "tmp_dirs": [str(tmp_path)]}
    shuf_big.shuffle(src, out_a, mem=mem_a, jobs=jobs_a, **common)
    shuf_big.shuffle(src, out_b, mem=mem_b, jobs=jobs_b, **common)
    a = out_a.read_bytes()
    expected = records_of(blob, sep)
    plan = Plan.for_budget(min(mem_a, mem_b), jobs=1)
    event(
        "external path"
        if plan.order_need(len(blob), len(expected), partitioned=False) > plan.order_budget
        else "in memory only"
    )
    assert sorted(records_of(a, sep)) == sorted(expected)
    assert len(a) == sum(map(len, expected))  # every record terminated once, nothing added
    assert out_b.read_bytes() == a
    assert src.read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin", "in.bin"]  # no temp files left
