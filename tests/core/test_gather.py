"""shuf_big.core.gather: records copied or handed out back to back, in the order asked for."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

LENGTHS = {
    "short": (0, core.SLICE_COPY_MIN_AVERAGE - 1),
    "long": (core.SLICE_COPY_MIN_AVERAGE, 3000),
    "mixed": (0, 3000),
}


@st.composite
def picked_records(draw: st.DrawFn, kind: str) -> tuple[bytes, list[int], list[int]]:
    """A source buffer and records in it: any starts, in any order, repeats allowed (as ``-r``)."""
    lo, hi = LENGTHS[kind]
    blob = draw(st.binary(min_size=3000, max_size=6000))
    lengths = draw(st.lists(st.integers(lo, hi), max_size=100))
    starts = [draw(st.integers(0, len(blob) - n)) for n in lengths]
    return blob, starts, lengths


@given(st.data(), st.sampled_from(sorted(LENGTHS)), st.integers(1, 5000))
@settings(max_examples=150, deadline=None)  # draws up to 200 values an example: no per-example deadline
def test_ordered_parts_are_the_records_in_order(data: st.DataObject, kind: str, piece: int) -> None:
    blob, starts, lengths = data.draw(picked_records(kind))
    source = np.frombuffer(blob, dtype=np.uint8)
    parts = core.ordered_parts(source, np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64), piece)
    assert b"".join(parts) == b"".join(blob[s : s + n] for s, n in zip(starts, lengths, strict=True))
    views = [np.shares_memory(np.frombuffer(p, dtype=np.uint8), source) for p in parts]
    if kind == "long":  # every record a view of the source: no copy
        assert len(parts) == len(lengths) and all(views)
    if kind == "short":  # every run gathered into the new buffer
        assert not any(views)


@given(st.data(), st.sampled_from(sorted(LENGTHS)), st.integers(1, 5000))
@settings(max_examples=150, deadline=None)
def test_gather_into_copies_the_records_back_to_back(data: st.DataObject, kind: str, piece: int) -> None:
    blob, starts, lengths = data.draw(picked_records(kind))
    out = np.full(sum(lengths), 0xEE, dtype=np.uint8)
    core.gather_into(out, np.frombuffer(blob, dtype=np.uint8), np.array(starts), np.array(lengths), piece)
    assert out.tobytes() == b"".join(blob[s : s + n] for s, n in zip(starts, lengths, strict=True))


@given(st.lists(st.integers(0, 500), max_size=200), st.integers(1, 2000))
def test_segments_cut_the_records_into_runs_of_about_piece_bytes(lengths: list[int], piece: int) -> None:
    runs = list(core.segments(np.array(lengths, dtype=np.int64), piece))
    stops = [j for _, j, _, _ in runs]
    assert [i for i, _, _, _ in runs] == [0, *stops][: len(runs)]  # consecutive runs
    assert [0, *stops][-1] == len(lengths)  # covering every record
    for i, j, offset, size in runs:
        assert j > i
        assert offset == sum(lengths[:i])
        assert size == sum(lengths[i:j])
        assert size <= piece or j == i + 1  # only a record longer than piece makes a longer run
