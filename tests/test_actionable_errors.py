"""Errors about one input say which input, where in it, and what to do: a record over the
memory budget gives its input, its line there, its size and the smallest ``--mem`` that
takes it (which then works); a corrupt or truncated compressed input gives its name, its
``--files-from`` line and the last whole line read.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import pytest
from helpers import PRECIOUS, ShufBig, assert_one_error_line, numbered_rows, sorted_records

import shuf_big
from shuf_big import ShufBigError
from shuf_big.budget.plan import Plan, default_jobs
from shuf_big.budget.sizes import parse_size

BIG = 200 * 1024  # bytes of the long record, its newline not counted

SUGGESTION = re.compile(r"rerun with --mem (\S+) or more")


def corpus(folder: Path) -> tuple[Path, list[Path], bytes]:
    """A list of three shards (two gzip) whose third has a 200 KiB line at line 1502 (its
    header line counted): the list, the shards, and all their records without headers."""
    shards = [folder / "s0.tsv.gz", folder / "s1.tsv", folder / "s2.tsv.gz"]
    bodies = [numbered_rows(0, 3000), numbered_rows(3000, 3000), numbered_rows(6000, 1500)]
    bodies[2] += b"x" * BIG + b"\n" + numbered_rows(7500, 1500)
    for path, body in zip(shards, bodies, strict=True):
        data = b"id\n" + body
        path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    listing = folder / "shards.txt"
    listing.write_text("".join(f"{path}\n" for path in shards))
    return listing, shards, b"".join(bodies)


@pytest.mark.parametrize("extra", [[], ["-n", "3"]], ids=["shuffle", "head-count"])
def test_record_over_the_budget_names_input_line_size_and_mem(sb: ShufBig, tmp_path: Path, extra: list[str]) -> None:
    listing, shards, records = corpus(tmp_path)
    out = tmp_path / "out.tsv"
    out.write_bytes(PRECIOUS)
    proc = sb.run("--files-from", listing, "--header", 1, "--mem", "64K", "--seed", 5, "-o", out, *extra)
    assert proc.returncode == 1
    text = assert_one_error_line(
        proc.stderr,
        f"line 1502 of '{shards[2]}' is {BIG + 1} bytes (200.0 KiB), larger than the memory budget (64.0 KiB): "
        "rerun with --mem ",
    )
    assert out.read_bytes() == PRECIOUS and sb.leftovers() == []
    match = SUGGESTION.search(text)
    assert match is not None, text
    suggested = parse_size(match.group(1), 0)
    plan = Plan.for_budget(parse_size("64K", 0), jobs=default_jobs())
    assert suggested >= BIG + 1 and suggested < 1.02 * plan.mem_for_record(BIG + 1, kept=bool(extra)) + 1024
    rerun = sb.run("--files-from", listing, "--header", 1, "--mem", match.group(1), "--seed", 5, "-o", out, *extra)
    assert (rerun.returncode, rerun.stderr) == (0, b"")
    got = out.read_bytes()
    assert got.startswith(b"id\n")
    if extra:
        assert len(got.splitlines()) == 4
    else:
        assert sorted_records(got[3:]) == sorted_records(records)


def test_record_number_when_records_are_not_lines(sb: ShufBig, tmp_path: Path) -> None:
    src = tmp_path / "docs.bin"
    src.write_bytes(b"a\0b\0" + b"y" * 40_000 + b"\0c\0")
    proc = sb.run("-z", src, "--mem", "16K")
    assert proc.returncode == 1
    text = assert_one_error_line(proc.stderr, f"record 3 of '{src}' is 40001 bytes (39.1 KiB)")
    match = SUGGESTION.search(text)
    assert match is not None and match.group(1) == "39.1K"
    rerun = sb.run("-z", src, "--mem", match.group(1))
    assert rerun.returncode == 0 and sorted_records(rerun.stdout, b"\0") == sorted_records(src.read_bytes(), b"\0")


def test_standard_input_is_named(sb: ShufBig) -> None:
    proc = sb.run("--mem", "16K", input=b"a\n" + b"z" * 30_000 + b"\n")
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "line 2 of standard input is 30001 bytes")


def test_truncated_gzip_names_list_line_and_last_whole_line(sb: ShufBig, tmp_path: Path) -> None:
    good = tmp_path / "good.txt.gz"
    good.write_bytes(gzip.compress(numbered_rows(0, 2000)))
    whole = gzip.compress(numbered_rows(0, 50_000), compresslevel=1)
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    readable = zlib.decompressobj(31).decompress(cut.read_bytes()).count(b"\n")  # lines before the cut
    listing = tmp_path / "shards.txt"
    listing.write_text(f"{good}\n\n{cut}\n")
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    proc = sb.run("--files-from", listing, "--mem", "64K", "-o", out)
    assert proc.returncode == 1
    text = assert_one_error_line(
        proc.stderr, f"shuf-big: {listing}:3: read error on '{cut}': not valid gzip data (", "), after line "
    )
    line = int(text.rsplit(" ", 1)[1])
    assert 0 < line <= readable
    assert out.read_bytes() == PRECIOUS and sb.leftovers() == []


def test_dask_engine_names_input_and_line(tmp_path: Path, cluster: object) -> None:
    """A record over a task's budget on the Dask engine: the same message as the local one."""
    listing, shards, _ = corpus(tmp_path)
    temp = tmp_path / "temp"
    temp.mkdir()
    options = {
        "engine": "dask",
        "scheduler": cluster.scheduler_address,  # type: ignore[attr-defined]
        "temp_url": str(temp),
        "header": 1,
        "seed": 5,
    }
    with pytest.raises(ShufBigError) as err:
        shuf_big.shuffle(files_from=str(listing), dst=str(tmp_path / "out.tsv"), mem="64K", **options)
    assert str(err.value).startswith(f"line 1502 of '{shards[2]}' is {BIG + 1} bytes (200.0 KiB)")
    match = SUGGESTION.search(str(err.value).replace("mem=", "--mem "))
    assert match is not None, str(err.value)
    shuf_big.shuffle(files_from=str(listing), dst=str(tmp_path / "out.tsv"), mem=match.group(1), **options)
    local = tmp_path / "local.tsv"
    shuf_big.shuffle(files_from=str(listing), dst=str(local), mem="1G", header=1, seed=5)
    assert (tmp_path / "out.tsv").read_bytes() == local.read_bytes()
