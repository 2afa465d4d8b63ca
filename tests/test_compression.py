"""Compressed outputs: independent blocks compressed on all workers, ``--compress-level``,
and the stdlib fallback when the ``fast`` extra (ISA-L) is not installed.

A compressed output is a series of gzip members or zstd frames (bzip2, xz streams), each
compressed on its own; every decoder, the real ``gzip``/``zstd`` commands and Python's,
must give back exactly the bytes of the uncompressed run with the same seed.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import words

import shuf_big
import shuf_big.cli.command as cli_module
from shuf_big.cli import cli
from shuf_big.files.compression import codec_for, isal_zlib

zstandard = pytest.importorskip("zstandard")

SEED = 77
# --mem 2M makes blocks of 64 KiB: the ~1.2 MB output is about 20 of them.
MEM = "2M"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compression") / "in.txt"
    path.write_bytes(words(60_000, 5))
    return path


# The uncompressed outputs of a run, by its number of shards (None: one file).
Outputs = dict[int | None, list[bytes]]


@pytest.fixture(scope="module")
def plain(source: Path) -> Outputs:
    """The uncompressed outputs of the seed: one file, and three shards."""
    folder = source.parent
    shuf_big.shuffle(str(source), str(folder / "plain.txt"), seed=SEED, mem=MEM)
    shuf_big.shuffle(str(source), str(folder / "plain-{shard}.txt"), seed=SEED, mem=MEM, shards=3)
    return {
        None: [(folder / "plain.txt").read_bytes()],
        3: [(folder / f"plain-{s}.txt").read_bytes() for s in range(3)],
    }


def members(blob: bytes, fmt: str) -> int:
    """How many gzip members or zstd frames ``blob`` is made of."""
    count = 0
    while blob:
        d = zlib.decompressobj(31) if fmt == "gzip" else zstandard.ZstdDecompressor().decompressobj()
        d.decompress(blob)
        blob = d.unused_data
        count += 1
    return count


def decode_with_python(blob: bytes, fmt: str) -> bytes:
    if fmt == "gzip":
        return gzip.decompress(blob)
    if fmt == "bz2":
        return bz2.decompress(blob)
    if fmt == "xz":
        return lzma.decompress(blob)
    return zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True).read()


def decode_with_command(path: Path, fmt: str) -> bytes:
    command = {"gzip": "gzip", "zstd": "zstd", "bz2": "bzip2", "xz": "xz"}[fmt]
    if shutil.which(command) is None:
        pytest.skip(f"no {command} command")
    return subprocess.run([command, "-dc", str(path)], check=True, capture_output=True).stdout


@pytest.mark.parametrize("shards", [None, 3], ids=["one-file", "3-shards"])
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(("ext", "fmt"), [(".gz", "gzip"), (".zst", "zstd")])
def test_blocks_decode_to_the_uncompressed_output(
    source: Path, plain: Outputs, tmp_path: Path, ext: str, fmt: str, jobs: int, shards: int | None
) -> None:
    name = "out-{shard}.txt" if shards else "out.txt"
    shuf_big.shuffle(str(source), str(tmp_path / (name + ext)), seed=SEED, mem=MEM, jobs=jobs, shards=shards)
    paths = [tmp_path / (name.format(shard=s) + ext) for s in range(shards or 1)]
    blobs = [p.read_bytes() for p in paths]
    assert members(b"".join(blobs), fmt) >= 10  # really many independent blocks
    assert [decode_with_python(b, fmt) for b in blobs] == plain[shards]
    assert [decode_with_command(p, fmt) for p in paths] == plain[shards]


@pytest.mark.parametrize(("ext", "fmt"), [(".bz2", "bz2"), (".xz", "xz")])
def test_bzip2_and_xz_blocks_decode_too(source: Path, plain: Outputs, tmp_path: Path, ext: str, fmt: str) -> None:
    out = tmp_path / f"out.txt{ext}"
    shuf_big.shuffle(str(source), str(out), seed=SEED, mem=MEM, jobs=2)
    assert decode_with_python(out.read_bytes(), fmt) == plain[None][0]
    assert decode_with_command(out, fmt) == plain[None][0]


@pytest.mark.parametrize("ext", [".gz", ".zst"])
def test_an_empty_output_is_one_valid_empty_member(tmp_path: Path, ext: str) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    out = tmp_path / f"out{ext}"
    shuf_big.shuffle(str(tmp_path / "empty.txt"), str(out), jobs=2)
    assert decode_with_command(out, "gzip" if ext == ".gz" else "zstd") == b""


@pytest.mark.parametrize(("ext", "fmt", "low", "high"), [(".gz", "gzip", 1, 9), (".zst", "zstd", 1, 19)])
def test_compress_level_trades_size_for_speed(tmp_path: Path, ext: str, fmt: str, low: int, high: int) -> None:
    text = tmp_path / "in.jsonl"
    rows = (b'{"id": %d, "text": "line %d of the %d"}\n' % (i, i % 997, i % 13) for i in range(30_000))
    text.write_bytes(b"".join(rows))
    shuf_big.shuffle(str(text), str(tmp_path / "plain.jsonl"), seed=SEED)
    sizes = []
    for level in (low, high):
        out = tmp_path / f"{level}{ext}"
        shuf_big.shuffle(str(text), str(out), seed=SEED, mem=MEM, compress_level=level)
        assert decode_with_python(out.read_bytes(), fmt) == (tmp_path / "plain.jsonl").read_bytes()
        sizes.append(out.stat().st_size)
    assert sizes[1] < 0.9 * sizes[0]


def test_the_cli_passes_compress_level(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(cli_module, "shuffle", lambda *a, **k: calls.append(k))
    result = CliRunner().invoke(cli, ["in.txt", "-o", "out.gz", "--compress-level", "7"])
    assert result.exit_code == 0, result.output
    assert calls[0]["compress_level"] == 7


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("out.gz", 0, "invalid --compress-level 0 for gzip output '{out}' (use 1 to 9)"),
        ("out.gz", 10, "invalid --compress-level 10 for gzip output '{out}' (use 1 to 9)"),
        ("out-{{shard}}.zst", 23, "invalid --compress-level 23 for zstd output '{out}' (use 1 to 22)"),
        ("out.xz", 10, "invalid --compress-level 10 for xz output '{out}' (use 0 to 9)"),
        ("out.txt", 3, "--compress-level needs a compressed output: -o NAME.gz, .bz2, .xz or .zst"),
    ],
)
def test_compress_level_errors_name_the_option(
    shuf_big_cmd: list[str], source: Path, tmp_path: Path, name: str, level: int, message: str
) -> None:
    out = tmp_path / name.replace("{{", "{").replace("}}", "}")
    shards = ["--shards", "2"] if "{shard}" in str(out) else []
    proc = subprocess.run(
        [*shuf_big_cmd, str(source), "-o", str(out), *shards, "--compress-level", str(level)], capture_output=True
    )
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"shuf-big: {message.format(out=out)}\n"
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_compress_level_errors_in_the_api_name_the_parameter(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.gz"
    with pytest.raises(shuf_big.ShufBigError) as err:
        shuf_big.shuffle(str(source), str(out), compress_level=12)
    assert str(err.value) == f"invalid compress_level=12 for gzip output '{out}' (use 1 to 9)"
    with pytest.raises(shuf_big.ShufBigError, match=r"^compress_level= needs a compressed output"):
        shuf_big.shuffle(str(source), "-", compress_level=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(isal_zlib() is None, reason="the fast extra (isal) is not installed")
def test_with_the_fast_extra_isal_compresses_the_default_gzip_level(source: Path, tmp_path: Path) -> None:
    """ISA-L writes 255 ("unknown") as the operating system in a member's header, zlib 3 (Unix)."""
    shuf_big.shuffle(str(source), str(tmp_path / "out.gz"), seed=SEED, mem=MEM)
    assert (tmp_path / "out.gz").read_bytes()[9] == 255


def test_without_isal_gzip_is_compressed_and_read_by_the_stdlib(
    source: Path, plain: Outputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "isal", None)  # import isal now raises ImportError
    assert not codec_for("gzip").isal
    packed = tmp_path / "in.txt.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    out = tmp_path / "out.gz"
    shuf_big.shuffle(str(packed), str(out), seed=SEED, mem=MEM, jobs=2)
    blob = out.read_bytes()
    assert blob[9] == 3  # zlib's header: Unix
    assert members(blob, "gzip") >= 10
    assert gzip.decompress(blob) == plain[None][0]


def test_a_compressed_input_is_planned_as_its_plain_self(tmp_path: Path) -> None:
    """Its size is unknown until read (so it does not fit the half of --mem it is probed
    with, where the plain input is shuffled in memory), and pass 1's fan-out comes from the
    compression ratio of what was read: two bucket files, not the 512 of ~80 KB that the
    read buffer alone would give.  The same bytes either way."""
    rows = (b"%07d %s\n" % (i, b"abcdefghij" * (100 + i % 200)) for i in range(20_000))
    data = b"".join(rows)  # 40 MB
    (tmp_path / "in.txt").write_bytes(data)
    (tmp_path / "in.txt.gz").write_bytes(gzip.compress(data, 1))
    plain = shuf_big.shuffle(str(tmp_path / "in.txt"), str(tmp_path / "a.txt"), mem="64M", seed=SEED)
    packed = shuf_big.shuffle(str(tmp_path / "in.txt.gz"), str(tmp_path / "b.txt"), mem="64M", seed=SEED)
    assert (plain.path, packed.path) == ("in memory", "external")
    assert (packed.buckets, packed.splits) == (2, 0)
    assert (tmp_path / "b.txt").read_bytes() == (tmp_path / "a.txt").read_bytes()
