"""Records of every shape through both paths (in memory and through temp files): empty
input, a last line without newline, binary bytes, NUL-terminated records, files of only
separators or with none, one-byte records, and 50 MB records among 10-byte ones.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import PRECIOUS, MiB, ShufBig, assert_one_error_line, numbered_rows, sorted_records
from hypothesis import given, settings
from hypothesis import strategies as st

from shuf_big import core
from shuf_big.files.records import Batch, LongRecord, RecordReader, Span
from shuf_big.files.records import Counter as IndexCounter

INTERPRETER_ALLOWANCE = 64 * MiB  # README: peak RSS stays under --mem plus the interpreter's own


# -- lines ------------------------------------------------------------------------------------


def test_empty_input(sb: ShufBig, tmp_path: Path) -> None:
    proc = sb.run(input=b"")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "out.txt"
    proc = sb.run(empty, "-o", out, "--mem", "64K")
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert out.read_bytes() == b""
    assert sb.leftovers() == []


def test_last_line_gets_a_newline(sb: ShufBig) -> None:
    proc = sb.run(input=b"alpha\nbeta\ngamma")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == len(b"alpha\nbeta\ngamma\n")
    assert sorted_records(proc.stdout) == [b"alpha", b"beta", b"gamma"]


def _awkward_records(n: int) -> list[bytes]:
    """Lines that are not text: invalid UTF-8, CR before LF, NUL bytes, empty lines."""
    shapes = [b"%d plain", b"%d \xff\xfe\x80 invalid utf-8", b"%d crlf\r", b"%d nul\x00inside", b"", b"\r", b"\x00"]
    return [shape % i if b"%d" in shape else shape for i in range(n) for shape in shapes]


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_binary_bytes_pass_through(sb: ShufBig, mem: str) -> None:
    recs = _awkward_records(4000)  # ~190 KB: three times the 64K budget
    data = b"".join(r + b"\n" for r in recs)
    proc = sb.run("--mem", mem, input=data)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout) == len(data)
    assert sorted_records(proc.stdout) == sorted(recs)


# -- NUL-terminated records --------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_zero_terminated_records(sb: ShufBig, mem: str) -> None:
    recs = [b"record %d\nspans\r\nlines \xff" % i for i in range(6000)] + [b"", b"\n"]
    data = b"".join(r + b"\0" for r in recs)
    proc = sb.run("-z", "--mem", mem, input=data)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout) == len(data)
    assert sorted_records(proc.stdout, b"\0") == sorted(recs)


def test_zero_terminated_last_record_gets_a_nul(sb: ShufBig) -> None:
    proc = sb.run("-z", input=b"a\nb\0c")
    assert proc.returncode == 0, proc.stderr
    assert sorted_records(proc.stdout, b"\0") == [b"a\nb", b"c"]


# -- awkward shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [b"\n", b"\0"], ids=["newline", "nul"])
@pytest.mark.parametrize("mem", ["1G", "1M"], ids=["in-memory", "external"])
def test_file_of_only_separators(sb: ShufBig, tmp_path: Path, sep: bytes, mem: str) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(sep * 200_000)
    out = tmp_path / "out.txt"
    proc = sb.run(src, "--mem", mem, "-o", out, *(["-z"] if sep == b"\0" else []))
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert out.read_bytes() == sep * 200_000  # 200,000 empty records
    assert sb.leftovers() == []


@pytest.mark.parametrize("mem", ["16M", "4M"], ids=["in-memory", "streamed"])
def test_file_without_any_separator_is_one_record(sb: ShufBig, tmp_path: Path, mem: str) -> None:
    """3 MB without a newline: one record, terminated on output.  At --mem 4M it fits the
    budget but not the ordering arrays, so it goes through a bucket file and is streamed."""
    rng = np.random.default_rng(1)
    body = rng.integers(0, 255, 3 * MiB, dtype=np.uint8)
    body[body == 10] = 255
    src = tmp_path / "in.bin"
    src.write_bytes(body.tobytes())
    proc = sb.run(src, "--mem", mem)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout == body.tobytes() + b"\n"
    body[body == 0] = 1  # the same shape with -z: no NUL inside
    src.write_bytes(body.tobytes())
    zero = sb.run(src, "--mem", mem, "-z")
    assert (zero.returncode, zero.stdout) == (0, body.tobytes() + b"\0")
    assert sb.leftovers() == []


def test_one_byte_records(sb: ShufBig, tmp_path: Path) -> None:
    """A million records of one byte each (every value but the newline), external path."""
    values = np.array([v for v in range(256) if v != 10], dtype=np.uint8)
    rows = np.empty((1_000_000, 2), dtype=np.uint8)
    rows[:, 0] = np.resize(values, 1_000_000)
    rows[:, 1] = 10
    data = rows.tobytes()
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    ext = sb.run(src, "--mem", "1M", "--seed", "3")
    mem = sb.run(src, "--mem", "1G", "--seed", "3")
    assert (ext.returncode, ext.stderr) == (0, b"")
    assert len(ext.stdout) == len(data) and ext.stdout != data
    assert ext.stdout[1::2] == b"\n" * 1_000_000
    assert Counter(ext.stdout[0::2]) == Counter(data[0::2])
    assert ext.stdout == mem.stdout
    assert sb.leftovers() == []


# -- records of very different lengths ------------------------------------------------------------


def test_mix_of_10_byte_and_50_mb_records(sb: ShufBig, tmp_path: Path) -> None:
    """Two 50 MB records among 500,000 10-byte ones through the external path at --mem 64M:
    every record comes out whole, and the peak RSS stays under --mem + 64 MiB."""
    big = 50 * 1000 * 1000
    src = tmp_path / "in.txt"
    small = numbered_rows(0, 500_000).replace(b"\n", b"xx\n")  # 10-byte records, 5 MB
    with src.open("wb") as f:
        for k, part in enumerate(np.array_split(np.frombuffer(small, np.uint8).reshape(-1, 10), 2)):
            f.write(part.tobytes())
            f.write(bytes([ord("A") + k]) * (big - 1) + b"\n")
    mem = 64 * MiB
    probe = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
        "sys.exit(rc)\n"
    )
    out = tmp_path / "out.txt"
    args = sb.argv(src, "-o", out, "--mem", "64M", "-T", tmp_path, "--seed", "8")
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, timeout=300, env=sb.env)
    assert proc.returncode == 0, proc.stderr
    peak = int(proc.stdout)
    print(f"{src.stat().st_size / MiB:.0f} MiB with 50 MB records at --mem 64M: peak RSS {peak / MiB:.1f} MiB")
    assert peak <= mem + INTERPRETER_ALLOWANCE

    def shapes(path: Path) -> Counter[tuple[int, bytes]]:
        found: Counter[tuple[int, bytes]] = Counter()
        with path.open("rb") as f:
            for line in f:
                found[(len(line), hashlib.blake2b(line, digest_size=8).digest())] += 1
        return found

    got = shapes(out)
    assert got == shapes(src)
    assert sorted(length for length, _ in got if length > 10) == [big] * 2
    assert sb.leftovers() == []


def test_record_longer_than_mem_writes_nothing(sb: ShufBig, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(numbered_rows(0, 30_000) + b"x" * (200 * 1024) + b"\n" + numbered_rows(0, 30_000))
    out = tmp_path / "out.txt"
    for target in ([], ["-o", out]):
        out.write_bytes(PRECIOUS)
        proc = sb.run(src, "--mem", "64K", *target)
        assert proc.returncode == 1
        assert_one_error_line(
            proc.stderr, f"line 30001 of '{src}' is 204801 bytes (200.0 KiB), larger than the memory budget"
        )
        assert proc.stdout == b""
        assert out.read_bytes() == PRECIOUS
        assert sb.leftovers() == []


# -- reading: spans (counted here, framed by the worker) are the same batches ------------------


@given(
    st.lists(st.integers(0, 300), max_size=400),
    st.sampled_from([b"", b"tail without newline"]),
    st.booleans(),
    st.integers(64, 4096),
    st.integers(16, 300),
    st.sampled_from([16, 64, 1 << 18]),
)
@settings(max_examples=150, deadline=None)
def test_spans_hand_out_the_records_batches_do(
    lengths: list[int], tail: bytes, long_first: bool, buffer: int, max_records: int, window: int
) -> None:
    """Same records with the same global indices, long records and a last record without
    its newline included, whatever the buffer, record limit and counting window."""
    blob = (b"L" * 5000 + b"\n" if long_first else b"") + b"".join(b"x" * n + b"\n" for n in lengths) + tail

    def records(items: Iterator[Batch | Span | LongRecord]) -> list[tuple[int, bytes]]:
        out = []
        for item in items:
            if isinstance(item, LongRecord):
                out.append((item.index, b"".join(bytes(p) for p in item.parts)))
                continue
            if isinstance(item, Span):
                ends = core.find_ends(item.data[: item.size], b"\n", item.count, 4096)
                assert len(ends) == item.count and int(ends[-1]) == item.size
                indices = np.arange(item.first, item.first + item.count)
            else:
                ends, indices = item.ends, item.indices
            starts = [0, *ends[:-1].tolist()]
            out += [(int(i), item.data[s:e].tobytes()) for i, s, e in zip(indices, starts, ends.tolist(), strict=True)]
        return out

    by_batch, by_span = IndexCounter(), IndexCounter()
    batches = records(iter(RecordReader(io.BytesIO(blob), b"\n", buffer, max_records, by_batch.take, "x")))
    reader = RecordReader(io.BytesIO(blob), b"\n", buffer, max_records, by_span.take, "x")
    spans = records(reader.spans(by_span, window))
    assert spans == batches
    assert by_span.next == by_batch.next
