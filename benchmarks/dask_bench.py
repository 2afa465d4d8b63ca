"""The Dask engine against the local one on the benchmark corpora.

    python -m benchmarks.dask_bench --size 512M

For each profile (corpus.py) it runs, alternating for ``--rounds`` rounds:

* ``local``: ``shuf-big --mem MEM`` (the local engine, -j = the CPU count);
* ``dask -j W`` for each W of ``--workers``: ``shuf-big --engine dask -j W --mem MEM``, which
  starts a LocalCluster of W single-thread worker processes (``--mem`` is per worker).

Every run writes ``-o`` on the corpus's filesystem with ``-T`` beside it and the same
seed; each Dask output must equal the local engine's byte for byte.  Wall time, CPU and
the peak RSS of the whole process tree (driver, nannies and workers) are measured as in
run.py.  Writes ``dask.md`` and ``dask.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.commands import (
    SEED,
    add_common_options,
    log,
    machine_info,
    require_psutil,
    round_order,
    shuf_big_command,
)
from benchmarks.digests import same_bytes, stream_digest
from benchmarks.measure import fresh_work, measure, settle
from benchmarks.tables import markdown_table, run_header, write_results
from benchmarks.units import MiB, parse_size, split_list


def measure_one(argv: list[str], work: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """One measured run writing ``work/out``: its record and that output."""
    out = work / "out"
    fresh_work(work)
    settle(args.sync, args.settle)
    m = measure(
        [*argv, "-o", str(out)], work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=dict(os.environ)
    )
    record = {
        **m.record(),
        "leftovers": len(os.listdir(work / "tmp")),
        "stderr": m.stderr[-300:] if m.exit_code else "",
    }
    return record, out


def run_round(
    r: int, src: Path, configs: list[tuple[str, list[str]]], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Every configuration once; each Dask output compared with the local one's, byte for byte."""
    cmd = shuf_big_command(args.shuf_big)
    records: dict[str, dict[str, Any]] = {}
    outputs: dict[str, Path] = {}
    for name, extra in round_order(configs, r):
        work = args.work_dir / name.replace(" ", "")
        argv = [*cmd, *extra, "--mem", args.mem, "--seed", str(SEED), "-T", str(work / "tmp"), str(src)]
        rec, outputs[name] = measure_one(argv, work, args)
        records[name] = rec
        log(f"{src.stem} {name} round {r}: {rec['wall_s']:.1f} s, {rec['peak_tree_rss'] / MiB:.0f} MiB")
    reference = outputs["local"]
    if r == 1 and reference.exists():
        records["local"]["output_digest"] = stream_digest([reference])
    for name, _ in configs[1:]:
        records[name]["same_bytes_as_local"] = (
            outputs[name].exists() and reference.exists() and same_bytes(outputs[name], reference)
        )
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return records


def row(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A configuration's medians over the rounds, and whether every round was right."""
    return {
        "run": name,
        "wall_s": statistics.median(x["wall_s"] for x in rounds),
        "cpu_s": statistics.median(x["cpu_s"] for x in rounds),
        "peak_tree_rss": max(x["peak_tree_rss"] for x in rounds),
        "ok": all(x["exit_code"] == 0 and not x["leftovers"] and x.get("same_bytes_as_local", True) for x in rounds),
        "rounds": rounds,
    }


def run_profile(profile: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build the profile's corpus, run every configuration for the rounds; its part of dask.json."""
    data_dir = args.data_dir / f"dask-{args.size}"
    meta = corpus.build(profile, data_dir, parse_size(args.size), text=args.text)
    src = data_dir / corpus.FILES[profile]
    configs: list[tuple[str, list[str]]] = [("local", [])] + [
        (f"dask -j {w}", ["--engine", "dask", "-j", str(w), "-q"]) for w in args.worker_list
    ]
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in configs}
    for r in range(1, args.rounds + 1):
        for name, record in run_round(r, src, configs, args).items():
            rounds[name].append(record)
    digest = rounds["local"][0].get("output_digest")
    return {
        "profile": profile,
        "corpus": meta,
        "reference_output": {"bytes": digest[0], "blake2b": digest[1]} if digest else None,
        "rows": [row(name, rounds[name]) for name, _ in configs],
    }


def markdown(results: list[dict[str, Any]], machine: dict[str, Any], args: argparse.Namespace) -> str:
    """dask.md: one row per profile and configuration."""
    lines = run_header(
        "The Dask engine against the local engine",
        f"python -m benchmarks.dask_bench --size {args.size} --mem {args.mem} --workers {args.workers} "
        f"--rounds {args.rounds}",
        machine,
        "Medians of alternating rounds; peak RSS is the whole process tree's maximum (driver, nannies, workers); "
        "`same` = every Dask output equal to the local engine's, byte for byte.",
    )
    rows = []
    for res in results:
        local = res["rows"][0]["wall_s"]
        for r in res["rows"]:
            wall, peak = f"{r['wall_s']:.1f}", f"{r['peak_tree_rss'] / MiB:.0f} MiB"
            vs_local, same = f"{r['wall_s'] / local:.2f}x", "yes" if r["ok"] else "NO"
            rows.append([res["profile"], r["run"], wall, f"{r['cpu_s']:.1f}", peak, vs_local, same])
    header = ["profile", "run", "wall s", "CPU s", "peak tree RSS", "vs local", "same"]
    return "\n".join(lines + markdown_table(header, "---|---|---:|---:|---:|---:|---", rows)) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="512M", help="bytes per corpus [512M]")
    parser.add_argument("--profiles", default=",".join(corpus.PROFILES), help="comma-separated [words,sentences,docs]")
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes [1,2]")
    parser.add_argument("--mem", default="256M", help="--mem of every run [256M]")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds [2]")
    add_common_options(parser, timeout=3600, data_help="corpora go in DATA_DIR/dask-SIZE")
    args = parser.parse_args(argv)
    require_psutil(parser)
    args.worker_list = [int(w) for w in split_list(args.workers)]
    args.work_dir = args.data_dir / "dask-run"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_info(shuf_big_command(args.shuf_big), args.data_dir)
    results = []
    for profile in split_list(args.profiles):
        results.append(run_profile(profile, args))
        write_results(args.out, "dask", machine, results, markdown(results, machine, args))
    print((args.out / "dask.md").read_text())


if __name__ == "__main__":
    main()
