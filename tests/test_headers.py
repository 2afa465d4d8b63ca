"""``--header N`` over several inputs: the header comes from the first input that has N
records, every later input must start with the same records (they are dropped), and an
input that starts otherwise fails the run with nothing written, naming the input and the
line that differs.  The Dask engine's agreement is in tests/test_engines.py.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from helpers import PRECIOUS, ShufBig, numbered_rows, sorted_records

import shuf_big
from shuf_big import ShufBigError

HEADER = b"id\ttext\n"


def table(path: Path, start: int, count: int, header: bytes = HEADER) -> Path:
    """A TSV-like file: ``header`` then ``count`` numbered rows (gzip by the name)."""
    data = header + numbered_rows(start, count)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_same_headers_one_on_top(sb: ShufBig, tmp_path: Path, mem: str) -> None:
    a = table(tmp_path / "a.tsv", 0, 5000)
    b = table(tmp_path / "b.tsv.gz", 5000, 5000)
    proc = sb.run("--header", 1, a, b, "--mem", mem, "--seed", 4)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.startswith(HEADER)
    assert sorted_records(proc.stdout[len(HEADER) :]) == sorted_records(numbered_rows(0, 10_000))
    bare = sb.run("--mem", mem, "--seed", 4, input=numbered_rows(0, 10_000))
    assert proc.stdout[len(HEADER) :] == bare.stdout  # the records shuffle as without headers


@pytest.mark.parametrize(
    ("mem", "extra"),
    [("1G", []), ("64K", []), ("64K", ["-n", "5"]), ("64K", ["--shards", "3"])],
    ids=["in-memory", "external", "head-count", "shards"],
)
def test_another_header_fails_and_writes_nothing(sb: ShufBig, tmp_path: Path, mem: str, extra: list[str]) -> None:
    """The third input has its columns the other way round: found when pass 1 reaches it,
    after the first two were read, and nothing is written."""
    a = table(tmp_path / "a.tsv", 0, 5000)
    b = table(tmp_path / "b.tsv.gz", 5000, 5000)
    c = table(tmp_path / "c.tsv", 10_000, 5000, header=b"text\tid\n")
    out = tmp_path / ("out-{shard}.tsv" if "--shards" in extra else "out.tsv")
    if "--shards" not in extra:
        out.write_bytes(PRECIOUS)
    proc = sb.run("--header", 1, a, b, c, "--mem", mem, "-o", out, *extra)
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        f"shuf-big: '{c}' does not start with the header of '{a}' (--header 1): "
        'line 1 is "text\\tid", not "id\\ttext"\n'
    )
    if "--shards" in extra:
        assert not list(tmp_path.glob("out-*"))
    else:
        assert out.read_bytes() == PRECIOUS
    assert sb.leftovers() == [] and os.listdir(sb.tmpdir) == []


def test_a_listed_shard_with_another_header_is_named_with_its_line(sb: ShufBig, tmp_path: Path) -> None:
    shards = [table(tmp_path / f"s{i}.tsv.gz", i * 1000, 1000) for i in range(3)]
    odd = table(tmp_path / "odd.tsv.gz", 9000, 1000, header=b"id\ttext\tlang\n")
    listing = tmp_path / "shards.txt"
    listing.write_text("".join(f"{path}\n" for path in [*shards, odd]))
    proc = sb.run("--header", 1, "--files-from", listing, "--mem", "64K")
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(f"shuf-big: {listing}:4: '{odd}' does not start with the header of")
    assert proc.stdout == b""


def test_the_header_comes_from_the_first_input_that_has_it(sb: ShufBig, tmp_path: Path) -> None:
    """An empty first shard, then one with only the header line: the header still tops the
    output (it used to be lost with an empty first shard)."""
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    only = tmp_path / "only.tsv"
    only.write_bytes(HEADER)
    a = table(tmp_path / "a.tsv", 0, 100)
    proc = sb.run("--header", 1, empty, a, only, "--seed", 1)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.startswith(HEADER) and proc.stdout.count(b"id\ttext") == 1
    assert sorted_records(proc.stdout[len(HEADER) :]) == sorted_records(numbered_rows(0, 100))


def test_a_short_input_must_agree_with_the_start_of_the_header(sb: ShufBig, tmp_path: Path) -> None:
    """With ``--header 2``, an input of one record holds only header: it must be the
    header's first line.  Before any input has two, the longest short one is the header."""
    first = tmp_path / "first.txt"
    first.write_bytes(b"h1\n")
    full = tmp_path / "full.txt"
    full.write_bytes(b"h1\nh2\nr1\nr2\n")
    assert sb.run("--header", 2, first, full).stdout.startswith(b"h1\nh2\n")
    assert sb.run("--header", 2, first, first).stdout == b"h1\n"
    other = tmp_path / "other.txt"
    other.write_bytes(b"x1\n")
    proc = sb.run("--header", 2, full, other)
    assert proc.returncode == 1
    assert proc.stderr.decode().endswith('(--header 2): line 1 is "x1", not "h1"\n')


def test_second_header_line_differs(sb: ShufBig, tmp_path: Path) -> None:
    a = table(tmp_path / "a.csv", 0, 10, header=b"# v1\nid,text\n")
    b = table(tmp_path / "b.csv", 10, 10, header=b"# v2\nid,text\n")
    proc = sb.run("--header", 2, a, b)
    assert proc.returncode == 1
    assert proc.stderr.decode().endswith('(--header 2): line 1 is "# v2", not "# v1"\n')
    c = table(tmp_path / "c.csv", 10, 10, header=b"# v1\r\nid,text\r\n")  # CRLF line ends
    proc = sb.run("--header", 2, a, c)
    assert proc.returncode == 1
    assert proc.stderr.decode().endswith('line 1 is "# v1\\r", not "# v1"\n')


def test_nul_records_are_records_not_lines(sb: ShufBig, tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"head\0x\0y\0")
    b = tmp_path / "b.bin"
    b.write_bytes(b"hd\0z\0")
    proc = sb.run("-z", "--header", 1, a, b)
    assert proc.returncode == 1
    assert proc.stderr.decode().endswith('(--header 1): record 1 is "hd", not "head"\n')


def test_api_error_names_the_parameter(tmp_path: Path) -> None:
    a = table(tmp_path / "a.tsv", 0, 10)
    b = table(tmp_path / "b.tsv", 10, 10, header=b"x\n")
    with pytest.raises(ShufBigError) as err:
        shuf_big.shuffle([str(a), str(b)], str(tmp_path / "out.tsv"), header=1)
    assert "(header=1)" in str(err.value) and str(b) in str(err.value)
    assert not (tmp_path / "out.tsv").exists()
