"""shuf_big.core.framing: record ends for any separator, in one buffer or in pieces."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]  # the conftest fixture's type


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=200), st.integers(1, 64))
def test_find_ends_and_frame_into_agree_with_split(
    records_array: RecordsArray, records: list[bytes], window: int
) -> None:
    data, ends = records_array(records)
    assert np.array_equal(core.find_ends(data, b"\n", len(records) + 1, window), ends)
    limited = core.find_ends(data, b"\n", 3, window)
    assert np.array_equal(limited, ends[:3])
    bounds = np.empty(len(records) + 1, dtype=np.int64)
    assert core.frame_into(bounds, data, b"\n", window) == len(records)
    assert np.array_equal(bounds[1:], ends)
    assert core.count_records(data, b"\n", window) == len(records)


def split_ends(blob: bytes, sep: bytes) -> list[int]:
    """Record ends as a left-to-right scan finds them (what ``bytes.split`` cuts at)."""
    ends = []
    at = blob.find(sep)
    while at >= 0:
        ends.append(at + len(sep))
        at = blob.find(sep, at + len(sep))
    return ends


@given(
    st.binary(max_size=300),
    st.sampled_from([b"\n", b"\n\n", b"ab", b"aaa", b"<|>"]),
    st.integers(1, 64),
    st.integers(1, 40),
)
@settings(max_examples=200)
def test_any_separator_frames_like_split(blob: bytes, sep: bytes, window: int, feed: int) -> None:
    blob = blob.replace(b"b", b"a").replace(b"x", b"\n")  # make separators and their overlaps common
    data = np.frombuffer(blob, dtype=np.uint8)
    expected = split_ends(blob, sep)
    assert core.find_ends(data, sep, len(blob) + 1, window).tolist() == expected
    assert core.count_records(data, sep, window) == len(expected)
    assert core.last_end(data, sep, window) == (expected[-1] if expected else 0)
    out = np.empty(len(expected), dtype=np.int64)
    assert core.ends_into(out, data, sep, window, 7) == len(expected)
    assert out.tolist() == [end + 7 for end in expected]
    # the same ends when the bytes arrive in pieces, and the same terminator at the end
    framer = core.StreamFramer(sep)
    fed = [int(e) + lo for lo in range(0, len(blob), feed) for e in framer.feed(data[lo : lo + feed])]
    assert fed == expected
    end = core.terminator(data, sep)
    assert framer.terminator() == end
    # terminating adds exactly one record end, at the very end, and no empty record
    closed = blob + end
    assert split_ends(closed, sep)[: len(expected)] == expected
    assert closed == blob or split_ends(closed, sep)[len(expected) :] == [len(closed)]


SEPARATOR_TAKERS: dict[str, Callable[[np.ndarray, bytes], object]] = {
    "find_ends": lambda data, sep: core.find_ends(data, sep, 10, 4),
    "count_records": lambda data, sep: core.count_records(data, sep),
    "last_end": lambda data, sep: core.last_end(data, sep),
    "completion": lambda data, sep: core.completion(b"", sep),
    "terminator": lambda data, sep: core.terminator(data[:0], sep),
    "StreamFramer": lambda data, sep: core.StreamFramer(sep),
    "frame_into": lambda data, sep: core.frame_into(np.empty(3, dtype=np.int64), data, sep, 4),
    "ends_into": lambda data, sep: core.ends_into(np.empty(2, dtype=np.int64), data, sep, 4),
}


@pytest.mark.parametrize("name", SEPARATOR_TAKERS)
def test_separator_is_non_empty_bytes(name: str) -> None:
    data = np.frombuffer(b"a\nb\n", dtype=np.uint8)
    with pytest.raises(ValueError, match="must not be empty"):
        SEPARATOR_TAKERS[name](data, b"")
    with pytest.raises(TypeError, match="must be bytes"):
        SEPARATOR_TAKERS[name](data, 10)  # type: ignore[arg-type]  # the old int form: not bytes(10)
