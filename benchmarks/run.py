"""The shuf-big benchmark suite: real-text corpora, alternating runs, ratios against targets.

    pip install -r benchmarks/requirements.txt
    python -m benchmarks.run --size 2G

For each corpus profile (corpus.py) it runs the commands of scenarios.py for ``--rounds``
rounds, each once per round (A B C ... C B A ..., the order rotated by one and reversed
every second round), checking every output (profiles.py); then the corpus pipeline case
(pipeline.py): sharded and compressed inputs and outputs.

Each run records wall time, user+sys CPU of the process tree (``wait4``), peak resident
memory of the tree (summed VmRSS, sampled every ``--interval`` seconds; psutil finds the
descendants), the peak of the largest single process (``ru_maxrss`` where it is exact,
else the sampled VmHWM) and the bytes the tree wrote (``/proc/PID/io``): measure.py.
Every shuf-big output is checked to be a permutation of the input.  Results go to
``--out``: results.md, results.json and chart.png (report.py).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import corpus, peers, pipeline, report, summary
from benchmarks.commands import (
    EXTERNAL_MEM,
    SEED,
    add_common_options,
    cpu_count,
    log,
    machine_info,
    require_psutil,
    shuf_big_command,
)
from benchmarks.profiles import run_profile
from benchmarks.scenarios import SORT_MEM
from benchmarks.units import MiB, format_size, parse_size, split_list

# Free space needed in the work directory, in corpus sizes: the output, the kept reference
# output and the temp files (about 1.15x the input for 14-byte lines) at the same time.
DISK_FACTOR = 3.5


def corpus_meta(path: Path) -> dict[str, Any]:
    """The corpus's sidecar metadata, or the same facts counted from the file."""
    meta = corpus.read_meta(path)
    if meta is not None:
        return meta
    size = path.stat().st_size
    lines = 0
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(16 * MiB):
            lines += chunk.count(b"\n")
    return {"file": path.name, "bytes": size, "lines": lines, "bytes_per_line": round(size / max(lines, 1), 2)}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=parse_size("2G"), help="bytes per corpus [2G]")
    parser.add_argument("--profiles", default=",".join(corpus.PROFILES), help="comma-separated [%(default)s]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported [3]")
    add_common_options(parser, timeout=3600, data_help="corpora [benchmarks/data]")
    parser.add_argument("--skip-build", action="store_true", help="use the corpora in --data-dir as they are")
    parser.add_argument(
        "--external-mem", default=EXTERNAL_MEM, help="--mem of the external runs [%(default)s]; try 16M at small --size"
    )
    parser.add_argument("--jobs", default="1,2", help="-j values of the external runs; the CPU count is added [1,2]")
    parser.add_argument(
        "--slice",
        type=parse_size,
        default=parse_size("200M"),
        help="input of the small-input and sort -R runs; 0: none [200M]",
    )
    parser.add_argument("--no-sort", action="store_true", help="skip the sort -R run on the slice")
    parser.add_argument("--terashuf", help="terashuf binary to run side by side [terashuf on PATH, if any]")
    parser.add_argument("--no-terashuf", action="store_true", help="leave terashuf out even if it is on PATH")
    parser.add_argument("--no-duckdb", action="store_true", help="leave DuckDB out even if duckdb is importable")
    parser.add_argument(
        "--duckdb-mem", help="DuckDB's memory_limit [--external-mem]; at a few MiB it runs out of memory"
    )
    parser.add_argument(
        "--pipeline", default="docs", help="profile of the sharded/compressed pipeline runs, or 'none' [docs]"
    )
    parser.add_argument("--pipeline-shards", type=int, default=8, help="input and output shards [8]")
    parser.add_argument("--work-dir", type=Path, help="outputs and temp files [DATA_DIR/run]: same filesystem")
    parser.add_argument("--no-chart", action="store_true", help="write results.md and .json only (no matplotlib)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what cannot run, and derive the lists and targets the runs use."""
    require_psutil(parser)
    args.profile_list = split_list(args.profiles)
    unknown = sorted(set(args.profile_list) - set(corpus.PROFILES))
    if unknown or not args.profile_list:
        parser.error(f"unknown profile(s) {', '.join(unknown)}: choose from {', '.join(corpus.PROFILES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        jobs = {int(j) for j in split_list(args.jobs)}
    except ValueError:
        parser.error(f"--jobs wants numbers like 1,2, got {args.jobs!r}")
    if min(jobs, default=1) < 1:
        parser.error("--jobs values must be at least 1")
    args.job_list = sorted(jobs | {cpu_count()})
    try:
        args.peak_target = parse_size(args.external_mem) + summary.TARGET_RSS_OVER_BUDGET
    except argparse.ArgumentTypeError as err:
        parser.error(f"--external-mem: {err}")
    if args.pipeline != "none" and args.pipeline not in corpus.PROFILES:
        parser.error(f"--pipeline {args.pipeline}: choose one of {', '.join(corpus.PROFILES)} or none")
    if args.pipeline_shards < 1:
        parser.error("--pipeline-shards must be at least 1")
    for tool in ("shuf", "sort", "cat", "bash"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    args.terashuf = None if args.no_terashuf else peers.find_terashuf(args.terashuf)
    args.duckdb = None if args.no_duckdb else peers.duckdb_version()
    args.data_dir = args.data_dir.resolve()
    args.work_dir = (args.work_dir or args.data_dir / "run").resolve()
    return args


def needed_profiles(args: argparse.Namespace) -> list[str]:
    """The profiles to run, and the pipeline's if it is another one."""
    extra = [args.pipeline] if args.pipeline not in ("none", *args.profile_list) else []
    return [*args.profile_list, *extra]


def prepare_corpora(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Build the corpora (unless --skip-build), check the free space; their metadata."""
    needed = needed_profiles(args)
    if not args.skip_build:
        # In a child process, so that this one stays small (see measure.own_rss_after_reset).
        build = [sys.executable, "-m", "benchmarks.corpus", "--size", str(args.size), "--out", str(args.data_dir)]
        build += ["--profiles", ",".join(needed), "--text", args.text]
        if subprocess.run(build).returncode != 0:
            sys.exit("run.py: building the corpora failed")
    metas = {}
    for profile in needed:
        path = args.data_dir / corpus.FILES[profile]
        if not path.exists():
            sys.exit(f"run.py: {path} does not exist (build it with benchmarks.corpus or drop --skip-build)")
        metas[profile] = corpus_meta(path)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    factor = DISK_FACTOR + (1.0 if args.duckdb else 0.0)  # DuckDB may need a UTF-8 copy of the corpus
    need = int(factor * max(m["bytes"] for m in metas.values()))
    free = shutil.disk_usage(args.work_dir).free
    if free < need:
        sys.exit(f"run.py: {args.work_dir} has {format_size(free)} free, needs ~{format_size(need)}")
    return metas


def config(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the results record (results.json's ``config``)."""
    return {
        "size": args.size,
        "profiles": args.profile_list,
        "rounds": args.rounds,
        "jobs": args.job_list,
        "external_mem": args.external_mem,
        "sort_mem": SORT_MEM,
        "duckdb_mem": args.duckdb_mem or args.external_mem,
        "seed": SEED,
        "slice": args.slice,
        "rss_interval_s": args.interval,
        "sync_before_each_run": args.sync,
        "settle_s": args.settle,
        "work_dir": str(args.work_dir),
        "env": {"LC_ALL": "C"},
        "terashuf_memory_gib": parse_size(args.external_mem) / (1 << 30) if args.terashuf else None,
        "pipeline_profile": args.pipeline,
        "pipeline_shards": args.pipeline_shards,
        "text": args.text,
        "targets": {
            "external_vs_floor": summary.TARGET_EXTERNAL_VS_FLOOR,
            "external_vs_terashuf": summary.TARGET_EXTERNAL_VS_TERASHUF,
            "inmem_vs_shuf": summary.TARGET_INMEM_VS_SHUF,
            "inmem_vs_shuf_small": summary.TARGET_INMEM_VS_SHUF_SMALL,
            "small_input": summary.SMALL_INPUT,
            "peak_tree_rss": args.peak_target,
            "pipeline": pipeline.TARGETS,
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    metas = prepare_corpora(args)
    sb = shuf_big_command(args.shuf_big)
    machine = machine_info(sb, args.work_dir, terashuf=args.terashuf, duckdb=args.duckdb)
    data: dict[str, Any] = {"machine": machine, "config": config(args), "profiles": {}}
    env = dict(os.environ, LC_ALL="C")
    try:
        for profile in args.profile_list:
            result = run_profile(profile, metas[profile], args, env)
            result["ratios"] = summary.ratios(profile, result, args.peak_target)
            data["profiles"][profile] = result
            machine["load_average_end"] = os.getloadavg()
            report.write_all(args.out, data, chart=not args.no_chart)  # after every profile: a partial run reports
        if args.pipeline != "none":
            zstd = machine["zstandard"] not in ("", "unknown")
            source = args.data_dir / corpus.FILES[args.pipeline]
            data["pipeline"] = pipeline.run_pipeline(source, args, env, sb, zstd=zstd)
            machine["load_average_end"] = os.getloadavg()
            report.write_all(args.out, data, chart=not args.no_chart)
    finally:
        with contextlib.suppress(OSError):
            args.work_dir.rmdir()  # only if empty
    log(f"results: {args.out / 'results.md'}, {args.out / 'results.json'}, {args.out / 'chart.png'}")


if __name__ == "__main__":
    main()
