"""The run report: ``shuffle()`` returns what it did, ``-v`` prints it; an unseeded run can be rerun."""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path

import numpy as np
from helpers import numbered_rows

import shuf_big
from shuf_big.budget.sizes import format_size

ROWS = numbered_rows(0, 8_000)  # 64 KB


def test_unseeded_run_is_reproduced_from_the_reported_seed(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    first = shuf_big.shuffle(str(src), str(tmp_path / "a"))
    again = shuf_big.shuffle(str(src), str(tmp_path / "b"), seed=first.seed)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes() != ROWS
    assert again.seed == first.seed


def test_figures_in_memory_match_the_files(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS + b"no newline")
    result = shuf_big.shuffle(str(src), str(tmp_path / "out"), seed=1)
    out = (tmp_path / "out").read_bytes()
    assert (result.records, result.bytes) == (out.count(b"\n"), len(out)) == (8_001, len(ROWS) + 11)
    assert (result.records_in, result.bytes_in) == (8_001, len(ROWS) + 11)
    assert (result.path, result.temp_bytes, result.buckets, result.shard_records) == ("in memory", 0, 0, None)
    assert result.report().splitlines()[1:4] == [
        "in:      8,001 records, 62.5 KiB",
        "out:     8,001 records, 62.5 KiB",
        "path:    in memory, 0 B of temp files",
    ]


def test_peak_memory_is_the_runs_own_not_the_callers_earlier_peak(tmp_path: Path) -> None:
    """A caller that held 1 GiB before shuffle() sees the run's peak, not its own."""
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    held = np.ones(1 << 30, dtype=np.uint8)  # touched: resident
    del held
    before = _rss()
    result = shuf_big.shuffle(str(src), str(tmp_path / "out"), seed=1, mem="64M")
    assert result.peak_memory is not None
    assert before <= result.peak_memory < before + (64 << 20)
    assert f"memory:  {format_size(result.peak_memory)} peak RSS, --mem 64.0 MiB" in result.report()


def _rss() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024  # type: ignore[union-attr]


def test_figures_of_the_external_path_and_shards(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"id\n" + ROWS)
    result = shuf_big.shuffle(
        str(src), str(tmp_path / "s{shard}.txt.gz"), seed=2, mem="32K", shards=3, header=1, tmp_dirs=[str(tmp_path)]
    )
    shards = [gzip.decompress((tmp_path / f"s{i}.txt.gz").read_bytes()) for i in range(3)]
    assert result.shard_records == [s.count(b"\n") - 1 for s in shards] == [2666, 2667, 2667]
    assert result.records == 8_000 and result.bytes == sum(len(s) for s in shards)
    assert result.path == "external" and result.buckets >= 2
    # every record went through a bucket file once, plus its 2-byte index gap; splits rewrite some
    assert len(ROWS) < result.temp_bytes <= (len(ROWS) + 2 * 8_000) * (1 + result.splits)


def test_head_count_figures(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    result = shuf_big.shuffle(str(src), str(tmp_path / "out"), seed=3, head_count=10)
    assert (result.records, result.bytes, result.records_in, result.bytes_in) == (10, 80, 8_000, len(ROWS))
    assert result.path == "streaming -n"


def test_verbose_prints_one_block_with_the_seed(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    first = subprocess.run([*shuf_big_cmd, "-v", str(src)], capture_output=True, check=True)
    lines = first.stderr.decode().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["seed", "in", "out", "path", "memory", "time"]
    assert lines[2] == "shuf-big: out:     8,000 records, 62.5 KiB"
    seed = lines[0].split("--seed ")[1].rstrip(")")
    again = subprocess.run([*shuf_big_cmd, "--seed", seed, str(src)], capture_output=True, check=True)
    assert again.stdout == first.stdout and again.stderr == b""
