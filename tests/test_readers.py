"""The reader protocol's conformance suite: the same cases over every reader the engines are
handed (plain files, each codec, file objects, pipes, documents, a probe put back, several
inputs, the ``-e`` and ``-i`` records), as the engine suite runs the same cases over each
engine.  A reader that gets one wrong gives a user a wrong line number in an error, a
progress bar that never reaches its end, or a second pass over different bytes."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from shuf_big.engines.generated import BytesReader, RangeReader
from shuf_big.errors import ShufBigError
from shuf_big.files.inputs import Inputs
from shuf_big.files.protocol import PrefixedReader, Reader
from shuf_big.files.readers import Decompressed, FileObject, Paragraphs, Sized

LINES = b"".join(b"line %d of the reader suite\n" % i for i in range(1, 3001))


@dataclass
class Case:
    """A reader, the bytes it must give, how messages name where its records are, and what it can do."""

    reader: Reader
    data: bytes
    where: str  # the input record 0 is in, as locate() names it
    first_number: int  # record 0's number there
    rewindable: bool
    on_disk: int | None  # its bytes on disk: what consumed() ends at


def _serial(fn: Callable[[object], object], items: object) -> list[object]:
    return [fn(item) for item in items]  # type: ignore[attr-defined]


def _pipe(data: bytes) -> io.FileIO:
    """The read end of a pipe that a thread fills with ``data`` (as a shell pipeline would)."""
    rfd, wfd = os.pipe()

    def fill() -> None:
        with open(wfd, "wb") as w, contextlib.suppress(BrokenPipeError):  # a test that stops reading early
            w.write(data)

    threading.Thread(target=fill, daemon=True).start()
    return open(rfd, "rb", buffering=0)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return bytes(zstandard.ZstdCompressor().compress(data))


def _opened(stack: contextlib.ExitStack, path: Path) -> io.FileIO:
    """``path`` open for reading until the case's end."""
    return stack.enter_context(open(path, "rb", buffering=0))


def _plain(tmp: Path, stack: contextlib.ExitStack) -> Case:
    path = tmp / "plain.txt"
    path.write_bytes(LINES)
    handle = _opened(stack, path)
    return Case(Sized(handle, len(LINES), "'plain.txt'"), LINES, "'plain.txt'", 1, True, len(LINES))


def _compressed(fmt: str, ahead: bool) -> Callable[[Path, contextlib.ExitStack], Case]:
    def make(tmp: Path, stack: contextlib.ExitStack) -> Case:
        packed = _zstd(LINES) if fmt == "zstd" else COMPRESSORS[fmt](LINES)
        path = tmp / f"packed.{fmt}"
        path.write_bytes(packed)
        handle = _opened(stack, path)
        reader = Decompressed(handle, fmt, f"'{path.name}'", ahead=ahead, size=len(packed))
        return Case(reader, LINES, f"'{path.name}'", 1, False, len(packed))

    return make


def _file_object(tmp: Path, stack: contextlib.ExitStack) -> Case:
    return Case(FileObject(io.BytesIO(LINES), "the file object"), LINES, "the file object", 1, False, None)


def _pipe_case(tmp: Path, stack: contextlib.ExitStack) -> Case:
    handle = stack.enter_context(_pipe(LINES))
    reader = FileObject(handle, "standard input")
    assert reader.peek("standard input") == LINES[:10]  # sniffed, then still handed out
    return Case(reader, LINES, "standard input", 1, False, None)


def _prefixed(tmp: Path, stack: contextlib.ExitStack) -> Case:
    """The in-memory probe put back in front of the rest: its records keep their line numbers."""
    case = _plain(tmp, stack)
    probe = np.empty(1000, dtype=np.uint8)
    got = case.reader.readinto(memoryview(probe))
    return Case(PrefixedReader(probe[:got], case.reader), LINES, "'plain.txt'", 1, False, len(LINES))


def _paragraphs(tmp: Path, stack: contextlib.ExitStack) -> Case:
    path = tmp / "docs.txt"
    path.write_bytes(b"\n\nfirst doc\nline two\n\n\n\nsecond doc\n\nthird")
    handle = _opened(stack, path)
    reader = Paragraphs(Sized(handle, path.stat().st_size, "'docs.txt'"))
    return Case(reader, b"first doc\nline two\n\nsecond doc\n\nthird\n\n", "'docs.txt'", 1, True, path.stat().st_size)


def _inputs(tmp: Path, stack: contextlib.ExitStack) -> Case:
    """Several inputs, the last unterminated: the stream terminates it at the seam."""
    (tmp / "a.txt").write_bytes(LINES)
    (tmp / "b.gz").write_bytes(gzip.compress(b"x\ny"))
    disk = len(LINES) + (tmp / "b.gz").stat().st_size
    reader = Inputs([str(tmp / "a.txt"), str(tmp / "b.gz")], b"\n")
    return Case(reader, LINES + b"x\ny\n", f"'{tmp / 'a.txt'}'", 1, True, disk)


def _echo(tmp: Path, stack: contextlib.ExitStack) -> Case:
    return Case(BytesReader(LINES, "the -e operands"), LINES, "the -e operands", 1, True, None)


def _range(tmp: Path, stack: contextlib.ExitStack) -> Case:
    numbers = b"".join(b"%d\n" % i for i in range(5, 20001))
    return Case(RangeReader(5, 20000, b"\n", 777), numbers, "-i 5-20000", 1, True, None)


MAKERS = {
    "plain": _plain,
    **{
        f"{fmt}{'-ahead' if ahead else ''}": _compressed(fmt, ahead)
        for fmt in ("gzip", "bz2", "xz", "zstd")
        for ahead in (False, True)
    },
    "file object": _file_object,
    "pipe": _pipe_case,
    "prefixed": _prefixed,
    "paragraphs": _paragraphs,
    "inputs": _inputs,
    "-e": _echo,
    "-i": _range,
}


@pytest.fixture(params=list(MAKERS))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    with contextlib.ExitStack() as stack:
        made = MAKERS[request.param](tmp_path, stack)
        yield made
        made.reader.close()


def _read_all(reader: Reader, view_size: int = 4099, parallel: bool = False) -> bytes:
    buffer = np.empty(view_size, dtype=np.uint8)
    out = bytearray()
    while True:
        view = memoryview(buffer)
        got = reader.readinto_parallel(view, 3, _serial) if parallel else reader.readinto(view)
        if not got:
            return bytes(out)
        out += buffer[:got].tobytes()


def test_readinto_gives_every_byte_once_in_order(case: Case) -> None:
    assert _read_all(case.reader) == case.data
    assert case.reader.readinto(memoryview(bytearray(10))) == 0  # and stays at its end


def test_readinto_parallel_gives_the_same_bytes(case: Case) -> None:
    assert _read_all(case.reader, 1 << 16, parallel=True) == case.data


def test_locate_names_the_input_and_the_record_number(case: Case) -> None:
    _read_all(case.reader)
    assert case.reader.locate(0) == (case.where, case.first_number)
    _, number = case.reader.locate(41)
    assert number == case.first_number + 41


def test_rewind_reads_the_same_bytes_again_or_says_why_not(case: Case) -> None:
    first = _read_all(case.reader)
    assert case.reader.rewindable is case.rewindable
    if case.rewindable:
        case.reader.rewind()
        assert _read_all(case.reader) == first
    else:
        with pytest.raises(ShufBigError, match=r"^cannot read .+ twice$"):
            case.reader.rewind()


def test_consumed_advances_to_the_size_on_disk(case: Case) -> None:
    """The progress bar's position: never backwards, and at the end exactly the bytes on disk."""
    assert case.reader.disk_size == case.on_disk
    seen = [case.reader.consumed()]
    buffer = np.empty(1 << 12, dtype=np.uint8)
    while case.reader.readinto(memoryview(buffer)):
        seen.append(case.reader.consumed())
    assert seen == sorted(seen)
    if case.on_disk is not None:
        assert seen[-1] == case.on_disk


def test_current_what_names_the_input_being_read(case: Case) -> None:
    case.reader.readinto(memoryview(bytearray(100)))
    assert isinstance(case.reader.current_what, str)
    if case.where.startswith("'") or case.where == "standard input":
        assert case.reader.current_what == case.where


def test_inputs_locate_a_record_in_a_later_input_by_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"1\n2\n3\n")
    (tmp_path / "b.txt").write_bytes(b"4\n5\n")
    inputs = Inputs([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], b"\n")
    _read_all(inputs)
    assert inputs.locate(4) == (f"'{tmp_path / 'b.txt'}'", 2)
    inputs.close()


def test_a_probe_put_back_keeps_the_line_numbers_of_skipped_records(tmp_path: Path) -> None:
    """PrefixedReader after header records: record k is the input's record k + skipped."""
    (tmp_path / "a.txt").write_bytes(LINES)
    inner = Inputs([str(tmp_path / "a.txt")], b"\n")
    reader = PrefixedReader(np.frombuffer(b"", dtype=np.uint8), inner, skipped=2)
    assert reader.locate(0) == (f"'{tmp_path / 'a.txt'}'", 3)
    inner.close()
