"""The seed -> bytes contract: the same seed and input give the same output in every 1.x release.

Users rebuild a training corpus months later from its seed, with a newer shuf-big.  The
digests below were computed at 1.0 (commit a69e376, before the 1.x refactors) and must
never be changed to make a test pass: a change of the mapping is a major version.  Every
mode has its own pin, and every way of running one permutation (budget, jobs, stdin,
several files, compressed input, the Dask engine) must reproduce the same digest.

Set ``SHUF_BIG_PRINT_DIGESTS=1`` to print the digests a build produces as well (to pin a
new mode): they are still checked, so the variable never turns a changed digest into a pass.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

import shuf_big

PRINT = os.environ.get("SHUF_BIG_PRINT_DIGESTS") == "1"

SEED = 20261202

DIGESTS = {
    "lines": "0de1c78bdf9ff0d7ebb2570455485a33e4f2377674204ea113a08008cb830035",
    "lines-n100": "6e5880e71f9f58556a0c2e9d018516b12a6dce3faa92bc6e03571351a4e5718c",
    "lines-header1": "f5486ae5bd32514f807bf438c772221fc6498386ed40c46ce4bee9543b616485",
    "lines-shards3": "071e53c6b98b6e60d2a257bda78f9d1da248085ce2aeff1a314af25d5719201c",
    "lines-repeat-n300": "58c18d1f9d1d796d5c010ec0b1723f631b2e6114ace15569db48477ac8ad5baf",
    "zero": "a6fe1f2f54052b229ffaa22aefb497ddbd03a55ea97900edd1fc4bf6672e6317",
    "paragraphs": "626f79e22e3967c8facbb13d8e19281d821183041d3a7b6def1c7496f0816a58",
    "docs": "3e73eee424390b7b9a4464498daadc780b0a49a48d277122335ef2d1b70307e5",
    "range": "883d39b8bc81a281ec8bb3bf8d4ea869bc553acea5bf5f56cdd406d44c2ae25e",
    "range-2^64-n5": "a5b9a5c0341c3c13e10fe620eeba83a75990251ea26c9e156fdac9cee6434393",
    "range-n7": "8991a3daac87254f29a3e59c6088d7b7af6710e6107260e3e3ff28af5e03bc8d",
    "range-repeat-n40": "b48c9850d5487d116578724da1efd4e51356566aa463ddda9d86ea226a13fbe9",
    "echo": "2b8edf8ebf6c0cc8d8b91a3b48c2089f2c25446f4a7dffb6a03d76a49d6c7c81",
    "echo-repeat-n25": "0c55c4088128ed6d5363f21dda5347f75bcff5aeaa83b70f64278e90901d7017",
    "random-source": "b908fb7a6a2e49b8dbc371c4f669e1faed9bde0a0523fbb1cfdbda1ce75d66c4",
    "aligned": "250323970d8ecc9b07bf20f7896fbaefe7c293391c60b1fc00f5a3c345a40ff4",
}


def check(name: str, *blobs: bytes) -> None:
    digest = hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in blobs)).hexdigest()
    if PRINT:  # a help for a new mode's pin: printed, and still checked
        with open(os.environ.get("SHUF_BIG_DIGESTS_FILE", "/dev/stderr"), "a") as f:
            f.write(f'    "{name}": "{digest}",\n')
    assert digest == DIGESTS.get(name), f"the seed -> bytes mapping of {name!r} changed (or has no pin yet)"


def lines(count: int = 12000, salt: bytes = b"") -> bytes:
    """Distinct lines of 1 to ~90 bytes, built from a hash so that no library's RNG is involved."""
    out = []
    for i in range(count):
        h = hashlib.blake2b(salt + i.to_bytes(4, "little"), digest_size=32).hexdigest()
        out.append(f"{i} {h[: int(h[:2], 16) % 80]}\n".encode())
    return b"".join(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "lines.txt").write_bytes(lines())
    return folder


def run(tmp: Path, src: object, **options: object) -> bytes:
    dst = tmp / "out.txt"
    shuf_big.shuffle(src, str(dst), seed=SEED, **options)  # type: ignore[arg-type]
    return dst.read_bytes()


# -- one permutation, however it is run -------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},  # in memory
        {"mem": "16K", "jobs": 1},  # external, many buckets
        {"mem": "64K", "jobs": 2},
        {"mem": "64K", "jobs": 3},
        {"mem": "1M", "jobs": 1},
    ],
    ids=["in-memory", "16K-j1", "64K-j2", "64K-j3", "1M-j1"],
)
def test_lines(tmp_path: Path, corpus: Path, options: dict[str, object]) -> None:
    check("lines", run(tmp_path, str(corpus / "lines.txt"), **options))


def test_lines_from_split_files_and_gzip(tmp_path: Path, corpus: Path) -> None:
    """Several inputs are one corpus; a compressed input is its decompressed bytes."""
    blob = (corpus / "lines.txt").read_bytes()
    cut = blob.index(b"\n", len(blob) // 3) + 1
    (tmp_path / "a.txt").write_bytes(blob[:cut])
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(blob[cut:]))
    check("lines", run(tmp_path, [str(tmp_path / "a.txt"), str(tmp_path / "b.txt.gz")], mem="32K"))


def test_lines_from_stdin_with_splits(tmp_path: Path, corpus: Path, shuf_big_cmd: list[str]) -> None:
    """Standard input of unknown size at a tiny budget: a fixed fan-out, then recursive splits."""
    with open(corpus / "lines.txt", "rb") as f:
        piped = subprocess.run(
            [*shuf_big_cmd, "--seed", str(SEED), "--mem", "16K", "-j", "2", "-T", str(tmp_path)],
            input=f.read(),
            capture_output=True,
            check=True,
        )
    check("lines", piped.stdout)


def test_lines_on_dask(tmp_path: Path, corpus: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50
    ) as cluster:
        (tmp_path / "tmp").mkdir()
        out = run(
            tmp_path,
            str(corpus / "lines.txt"),
            mem="64K",
            engine="dask",
            scheduler=cluster.scheduler_address,
            temp_url=str(tmp_path / "tmp"),
        )
    check("lines", out)


# -- every mode has its own pin ------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["25%", "64K"])
def test_head_count(tmp_path: Path, corpus: Path, mem: str) -> None:
    check("lines-n100", run(tmp_path, str(corpus / "lines.txt"), head_count=100, mem=mem))


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_header(tmp_path: Path, corpus: Path, mem: str) -> None:
    check("lines-header1", run(tmp_path, str(corpus / "lines.txt"), header=1, mem=mem))


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_shards(tmp_path: Path, corpus: Path, mem: str) -> None:
    pattern = str(tmp_path / "part-{shard}.txt")
    shuf_big.shuffle(str(corpus / "lines.txt"), pattern, seed=SEED, shards=3, mem=mem)
    check("lines-shards3", *[(tmp_path / f"part-{s}.txt").read_bytes() for s in range(3)])


def test_repeat_file(tmp_path: Path, corpus: Path) -> None:
    check("lines-repeat-n300", run(tmp_path, str(corpus / "lines.txt"), repeat=True, head_count=300))


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_zero_terminated(tmp_path: Path, mem: str) -> None:
    src = tmp_path / "z.bin"
    src.write_bytes(lines(3000, b"z").replace(b"\n", b"\0"))
    check("zero", run(tmp_path, str(src), zero_terminated=True, mem=mem))


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_paragraphs(tmp_path: Path, mem: str) -> None:
    src = tmp_path / "p.txt"
    src.write_bytes(lines(4000, b"p").replace(b"0\n", b"0\n\n\n"))
    check("paragraphs", run(tmp_path, str(src), record_separator="", mem=mem))


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_multibyte_separator(tmp_path: Path, mem: str) -> None:
    src = tmp_path / "d.txt"
    src.write_bytes(lines(4000, b"d").replace(b"7\n", b"7\n</doc>\n"))
    check("docs", run(tmp_path, str(src), record_separator="</doc>\n", mem=mem))


@pytest.mark.parametrize("mem", ["25%", "16K"])
def test_input_range(tmp_path: Path, mem: str) -> None:
    check("range", run(tmp_path, "-", input_range=(1, 30000), mem=mem))


def test_input_range_head(tmp_path: Path) -> None:
    check("range-n7", run(tmp_path, "-", input_range=(5, 100004), head_count=7))
    check("range-2^64-n5", run(tmp_path, "-", input_range=(0, 2**64 - 1), head_count=5))


def test_input_range_repeat(tmp_path: Path) -> None:
    check("range-repeat-n40", run(tmp_path, "-", input_range=(1, 1000), repeat=True, head_count=40))


def test_echo(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(500)]
    check("echo", run(tmp_path, "-", echo=words))
    check("echo-repeat-n25", run(tmp_path, "-", echo=words, repeat=True, head_count=25))


def test_random_source(tmp_path: Path, corpus: Path) -> None:
    source = tmp_path / "random.bin"
    source.write_bytes(bytes(range(40)))
    dst = tmp_path / "out.txt"
    shuf_big.shuffle(str(corpus / "lines.txt"), str(dst), random_source=str(source))
    check("random-source", dst.read_bytes())


@pytest.mark.parametrize("mem", ["25%", "32K"])
def test_aligned(tmp_path: Path, mem: str) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(lines(5000, b"a"))
    b.write_bytes(lines(5000, b"b"))
    outs = [str(tmp_path / "a.out"), str(tmp_path / "b.out")]
    shuf_big.shuffle([str(a), str(b)], outs, seed=SEED, aligned=True, mem=mem)
    check("aligned", *[Path(o).read_bytes() for o in outs])
