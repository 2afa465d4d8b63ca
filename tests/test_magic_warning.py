"""Compressed data under another name: one warning line naming the input and ``--decompress``, the run goes on."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import warnings
from pathlib import Path

import pytest
import zstandard
from helpers import sorted_records

TEXT = b"".join(b"row %d\n" % i for i in range(300))
PACK = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def test_stdin_warns_and_shuffles_the_bytes(shuf_big_cmd: list[str]) -> None:
    fmt = "zstd"
    blob = PACK[fmt](TEXT)
    result = subprocess.run([*shuf_big_cmd, "--seed", "1"], input=blob, capture_output=True, check=False)
    assert result.returncode == 0
    assert result.stderr.decode() == (
        f"shuf-big: warning: standard input looks {fmt}-compressed but is read as it is: "
        f"to shuffle its content, use --decompress {fmt}\n"
    )
    assert sorted_records(result.stdout) == sorted_records(blob + (b"" if blob.endswith(b"\n") else b"\n"))


def test_misnamed_file_warns_once_even_when_read_twice(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """A file that does not fit --mem is probed, then read again: still one line."""
    src = tmp_path / "data.txt"
    src.write_bytes(gzip.compress(TEXT * 20, compresslevel=0))
    result = subprocess.run(
        [*shuf_big_cmd, "--mem", "64K", str(src), "-o", str(tmp_path / "out")], capture_output=True, check=False
    )
    assert result.returncode == 0
    lines = result.stderr.decode().splitlines()
    assert lines == [
        f"shuf-big: warning: '{src}' looks gzip-compressed but is read as it is: "
        "to shuffle its content, use --decompress gzip"
    ]


def test_no_warning_when_decompressing_or_for_text(tmp_path: Path) -> None:
    import shuf_big

    named = tmp_path / "data.gz"
    named.write_bytes(gzip.compress(TEXT))
    plain = tmp_path / "data.txt"
    plain.write_bytes(TEXT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the run
        for src, options in ((named, {}), (plain, {}), (io.BytesIO(gzip.compress(TEXT)), {"decompress": "gzip"})):
            out = io.BytesIO()
            shuf_big.shuffle(src if isinstance(src, io.BytesIO) else str(src), out, **options)
            assert sorted_records(out.getvalue()) == sorted_records(TEXT)


@pytest.mark.parametrize("fmt", sorted(PACK))
def test_api_warns_with_a_python_warning(tmp_path: Path, fmt: str) -> None:
    import shuf_big
    from shuf_big.errors import CompressedInputWarning

    src = tmp_path / "x.log"
    src.write_bytes(PACK[fmt](TEXT))
    with pytest.warns(CompressedInputWarning, match=f"'{src}' looks {fmt}-compressed.*--decompress {fmt}"):
        shuf_big.shuffle(str(src), str(tmp_path / "out"), seed=1)
    blob = src.read_bytes()
    assert sorted_records((tmp_path / "out").read_bytes()) == sorted_records(blob + b"\n"[: not blob.endswith(b"\n")])
