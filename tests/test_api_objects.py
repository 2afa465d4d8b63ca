"""The Python API: file objects as ``src``/``dst``, ``iter_shuffled``, errors in the API's words."""

from __future__ import annotations

import gc
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import numbered_rows, open_temp_files

import shuf_big

ROWS = numbered_rows(0, 8_000)  # 64 KB


def _file_output(tmp_path: Path, data: bytes, **options: Any) -> bytes:
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    shuf_big.shuffle(str(src), str(dst), **options)
    return dst.read_bytes()


def test_file_objects_as_src_and_dst(tmp_path: Path) -> None:
    expected = _file_output(tmp_path, ROWS, seed=4)
    out = io.BytesIO()
    result = shuf_big.shuffle(io.BytesIO(ROWS), out, seed=4)
    assert out.getvalue() == expected and result.records == 8_000
    # a list mixing file objects and a path is one corpus, as the files concatenated
    (tmp_path / "part2").write_bytes(ROWS[40_000:])
    with open(tmp_path / "in.bin", "rb") as whole:
        head = io.BufferedReader(io.BytesIO(ROWS[:20_000]))
        out = io.BytesIO()
        shuf_big.shuffle([head, io.BytesIO(ROWS[20_000:40_000]), str(tmp_path / "part2")], out, seed=4)
        assert out.getvalue() == expected
        assert not whole.closed


@pytest.mark.parametrize(
    "options",
    [
        {"seed": 1},
        {"seed": 1, "mem": "32K"},  # external
        {"seed": 2, "head_count": 123},
        {"seed": 3, "zero_terminated": True},
        {"seed": 4, "record_separator": ""},
        {"seed": 5, "record_separator": "<>", "mem": "32K"},
        {"seed": 6, "header": 2},
    ],
    ids=["memory", "external", "head", "nul", "paragraphs", "multibyte", "header"],
)
def test_iterator_is_byte_identical_to_the_file(tmp_path: Path, options: dict[str, Any]) -> None:
    data = ROWS
    if options.get("zero_terminated"):
        data = ROWS.replace(b"\n", b"\0")
    elif options.get("record_separator") == "":
        data = ROWS.replace(b"0\n", b"0\n\n\n")
    elif "record_separator" in options:
        data = ROWS.replace(b"\n", b"<>")
    expected = _file_output(tmp_path, data, tmp_dirs=[str(tmp_path)], **options)
    records = list(shuf_big.iter_shuffled(str(tmp_path / "in.bin"), tmp_dirs=[str(tmp_path)], **options))
    assert b"".join(records) == expected
    assert all(isinstance(r, bytes) for r in records) and len(records) > 100


def test_iterator_of_generated_records() -> None:
    records = list(shuf_big.iter_shuffled(input_range=(1, 1000), seed=8, head_count=5))
    out = io.BytesIO()
    shuf_big.shuffle(dst=out, input_range=(1, 1000), seed=8, head_count=5)
    assert b"".join(records) == out.getvalue() and len(records) == 5


def test_closing_or_dropping_the_iterator_removes_temp_files(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    it = shuf_big.iter_shuffled(str(src), mem="32K", tmp_dirs=[str(temp)], seed=1)
    first = next(it)
    assert first in ROWS.splitlines(keepends=True)
    assert open_temp_files(os.getpid(), temp) != []  # the external path's bucket files
    it.close()
    assert os.listdir(temp) == [] and open_temp_files(os.getpid(), temp) == []
    it = shuf_big.iter_shuffled(str(src), mem="32K", tmp_dirs=[str(temp)], seed=1)
    assert next(it) == first
    del it
    gc.collect()
    assert os.listdir(temp) == [] and open_temp_files(os.getpid(), temp) == []


def test_errors_name_the_api_parameters(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    with pytest.raises(shuf_big.ShufBigError, match=r"^invalid mem=: invalid size: 'lots'$"):
        shuf_big.shuffle(io.BytesIO(ROWS), io.BytesIO(), mem="lots")
    with pytest.raises(shuf_big.ShufBigError, match=r"^head_count=5000 keeps more lines than fit in mem=32.0 KiB"):
        shuf_big.shuffle(io.BytesIO(ROWS), io.BytesIO(), mem="32K", head_count=5_000)
    with pytest.raises(shuf_big.ShufBigError, match=r"^invalid mem="):
        shuf_big.iter_shuffled(io.BytesIO(ROWS), mem="lots")
    result = subprocess.run([*shuf_big_cmd, "--mem", "lots"], capture_output=True, check=False)
    assert (result.returncode, result.stderr) == (1, b"shuf-big: invalid --mem: invalid size: 'lots'\n")
