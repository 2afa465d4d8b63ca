"""The runs of one profile: which commands, on which input, as run.py times them each round.

* ``floor``: ``cat IN > TMP && cat TMP > OUT``, the bytes any two-pass shuffle must move;
* ``shuf-big external -j J``: ``--mem 256M -T TMPDIR --seed S -j J`` for each J of ``--jobs``;
* ``shuf-big in memory``: ``--mem`` at least 2x the input, enough for the in-memory path;
* ``GNU shuf``;
* ``terashuf`` with ``MEMORY`` = the external ``--mem``, when a binary is given or on PATH;
* ``DuckDB ORDER BY random()`` under the same memory limit, when ``duckdb`` is importable;
* on a ``--slice`` (200M) prefix of the corpus: ``sort -R -S 256M``, ``GNU shuf``, shuf-big in
  memory and terashuf (the small-input case, where start-up weighs).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import peers
from benchmarks.commands import SEED, cpu_count, log, shuf_big_command
from benchmarks.measure import psutil
from benchmarks.units import MiB, parse_size

SORT_MEM = "256M"
# Extra bytes per record granted to the in-memory run on top of 2x the input: the engine
# needs the data plus about 48 bytes of arrays per record (README, "Memory and disk") to
# take its in-memory path, which for 14-byte lines is more than 2x the input.
INMEM_BYTES_PER_RECORD = 64
INMEM_SLACK = 64 * MiB
INMEM_MAX_SHARE = 0.8  # of physical RAM; above it the in-memory run is skipped
# Runs whose output is shuf-big's, checked to be a permutation of their input.
SHUF_BIG_KINDS = ("external", "inmem", "inmem_slice")


@dataclass
class Tool:
    """One command of a profile, and the rounds it has run."""

    key: str
    label: str
    argv: list[str]
    input: Path
    kind: str  # floor | external | inmem | shuf | terashuf | duckdb | sort_slice | shuf_slice | inmem_slice ...
    jobs: int | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stdin: Path | None = None  # terashuf reads standard input and writes standard output
    stdout: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    input_bytes: int = 0

    def __post_init__(self) -> None:
        self.input_bytes = self.input.stat().st_size  # before a slice or UTF-8 copy is deleted

    @property
    def command(self) -> str:
        """The command as a shell would run it (settings and redirections included)."""
        text = shlex.join(self.argv)
        if self.extra_env:
            text = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.extra_env.items()) + " " + text
        if self.stdin:
            text += f" < {shlex.quote(str(self.stdin))}"
        if self.stdout:
            text += f" > {shlex.quote(str(self.stdout))}"
        return text


def inmem_budget(size: int, lines: int) -> int:
    """A --mem that is at least 2x the input and enough for the in-memory path."""
    need = max(2 * size, size + INMEM_BYTES_PER_RECORD * lines) + INMEM_SLACK
    return -(-need // MiB) * MiB


def make_slice(src: Path, dst: Path, limit: int) -> Path:
    """The first lines of ``src`` up to ``limit`` bytes (``src`` itself if it is no larger)."""
    if src.stat().st_size <= limit:
        return src
    with src.open("rb") as f, dst.open("wb") as out:
        left = limit
        while left > 0:
            block = f.read(min(left, 4 * MiB))
            left -= len(block)
            if left <= 0 or not block:
                block = block[: block.rfind(b"\n") + 1]  # assumes a line shorter than 4 MiB
                left = 0
            out.write(block)
    return dst


def terashuf_tool(key: str, label: str, data: Path, work: Path, mem: int, kind: str, args: argparse.Namespace) -> Tool:
    """terashuf reads standard input and writes standard output, its settings in the environment."""
    extra = peers.terashuf_env({}, mem, work / "tmp")
    label = f"{label} MEMORY={extra['MEMORY']}"
    return Tool(key, label, [args.terashuf], data, kind, stdin=data, stdout=work / "out", extra_env=extra)


def shuf_big_argv(args: argparse.Namespace, data: Path, work: Path, mem: str) -> list[str]:
    """``shuf-big IN -o OUT --mem MEM -T TMP --seed S``, every shuf-big run's start."""
    sb = shuf_big_command(args.shuf_big)
    return [*sb, str(data), "-o", str(work / "out"), "--mem", mem, "-T", str(work / "tmp"), "--seed", str(SEED)]


def corpus_tools(data: Path, work: Path, meta: dict[str, Any], args: argparse.Namespace) -> list[Tool]:
    """The floor, shuf-big external and in memory, GNU shuf and terashuf on the whole corpus."""
    out = str(work / "out")
    floor_tmp = shlex.quote(str(work / "tmp" / "floor.tmp"))
    floor = f"cat {shlex.quote(str(data))} > {floor_tmp} && cat {floor_tmp} > {shlex.quote(out)}"
    tools = [Tool("floor", "floor: cat in > tmp; cat tmp > out", ["bash", "-c", floor], data, "floor")]
    for j in args.job_list:
        argv = [*shuf_big_argv(args, data, work, args.external_mem), "-j", str(j)]
        tools.append(Tool(f"external_j{j}", f"shuf-big external -j {j}", argv, data, "external", j))
    mem = inmem_budget(meta["bytes"], meta["lines"])
    if mem <= INMEM_MAX_SHARE * psutil.virtual_memory().total:
        argv = shuf_big_argv(args, data, work, f"{mem // MiB}M")
        tools.append(Tool("in_memory", f"shuf-big in memory (--mem {mem // MiB}M)", argv, data, "inmem"))
    else:
        log(f"skipping the in-memory run: it needs --mem {mem // MiB}M, more than {INMEM_MAX_SHARE:.0%} of RAM")
    tools.append(Tool("gnu_shuf", "GNU shuf", ["shuf", str(data), "-o", out], data, "shuf"))
    if args.terashuf:
        mem = parse_size(args.external_mem)
        tools.append(terashuf_tool("terashuf", "terashuf", data, work, mem, "terashuf", args))
    return tools


def duckdb_tool(data: Path, duck_input: Path, work: Path, args: argparse.Namespace) -> Tool:
    """DuckDB in a child Python (peers.py), so it is measured like any command."""
    argv = [sys.executable, "-m", "benchmarks.peers", "duckdb", str(duck_input), str(work / "out")]
    argv += ["--mem", args.duckdb_mem or args.external_mem, "--threads", str(cpu_count()), "--temp", str(work / "tmp")]
    label = "DuckDB ORDER BY random()" + (", UTF-8 copy" if duck_input != data else "")
    return Tool("duckdb", label, argv, duck_input, "duckdb")


def slice_tools(data: Path, slice_path: Path, slice_lines: int, work: Path, args: argparse.Namespace) -> list[Tool]:
    """sort -R on the slice; GNU shuf, shuf-big in memory and terashuf on it when it is not the corpus."""
    out, tmp = str(work / "out"), str(work / "tmp")
    tools = []
    if not args.no_sort:
        argv = ["sort", "-R", "-S", SORT_MEM, "-T", tmp, "-o", out, str(slice_path)]
        tools.append(Tool("sort_r_slice", f"sort -R -S {SORT_MEM}, slice", argv, slice_path, "sort_slice"))
    if slice_path == data:
        return tools
    tools.append(
        Tool("gnu_shuf_slice", "GNU shuf, slice", ["shuf", str(slice_path), "-o", out], slice_path, "shuf_slice")
    )
    small = inmem_budget(slice_path.stat().st_size, slice_lines)
    argv = shuf_big_argv(args, slice_path, work, f"{small // MiB}M")
    label = f"shuf-big in memory (--mem {small // MiB}M), slice"
    tools.append(Tool("in_memory_slice", label, argv, slice_path, "inmem_slice"))
    if args.terashuf:
        tools.append(terashuf_tool("terashuf_slice", "terashuf", slice_path, work, small, "terashuf_slice", args))
        tools[-1].label += ", slice"
    return tools


def plan_tools(
    data: Path,
    slice_path: Path | None,
    slice_lines: int,
    work: Path,
    meta: dict[str, Any],
    args: argparse.Namespace,
    duck_input: Path | None,
) -> list[Tool]:
    """The runs of one profile, in the order each round runs them (slice runs only when
    ``slice_path`` is a real prefix; DuckDB when ``duck_input`` is given)."""
    tools = corpus_tools(data, work, meta, args)
    if duck_input is not None:
        tools.append(duckdb_tool(data, duck_input, work, args))
    if slice_path is not None:
        tools += slice_tools(data, slice_path, slice_lines, work, args)
    return tools
