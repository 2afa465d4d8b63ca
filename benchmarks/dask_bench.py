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
import json
import os
import shutil
import statistics
from pathlib import Path

from benchmarks import corpus, run

MiB = run.MiB


def measure_one(argv: list[str], work: Path, args: argparse.Namespace) -> tuple[dict, Path]:
    out = work / "out"
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    os.sync()
    m = run.measure(
        [*argv, "-o", str(out)], work / "stderr.txt", interval=args.interval, timeout=3600, env=dict(os.environ)
    )
    leftovers = os.listdir(work / "tmp")
    return (
        {
            "wall_s": round(m.wall_s, 3),
            "cpu_s": round(m.cpu_s, 3),
            "peak_tree_rss": m.peak_tree_rss,
            "max_processes": m.max_processes,
            "exit_code": m.exit_code,
            "leftovers": len(leftovers),
            "stderr": m.stderr[-300:] if m.exit_code else "",
        },
        out,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="512M", help="bytes per corpus [512M]")
    parser.add_argument("--profiles", default=",".join(corpus.PROFILES), help="comma-separated [words,sentences,docs]")
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes [1,2]")
    parser.add_argument("--mem", default="256M", help="--mem of every run [256M]")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds [2]")
    parser.add_argument("--data-dir", type=Path, default=run.HERE / "data", help="corpora go in DATA_DIR/dask-SIZE")
    parser.add_argument("--out", type=Path, default=run.HERE / "results", help="results directory")
    parser.add_argument("--shuf-big", default=None, help="command that runs shuf-big")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    args = parser.parse_args(argv)
    args.work_dir = args.data_dir / "dask-run"
    size = corpus.parse_size(args.size)
    data_dir = args.data_dir / f"dask-{args.size}"
    cmd = run.shuf_big_command(args.shuf_big)
    machine = run.machine_info(args)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    results = []
    for profile in [p.strip() for p in args.profiles.split(",") if p.strip()]:
        meta = corpus.build(profile, data_dir, size)
        src = data_dir / corpus.FILES[profile]
        configs = [("local", [])] + [(f"dask -j {w}", ["--engine", "dask", "-j", str(w), "-q"]) for w in workers]
        rounds: dict[str, list[dict]] = {name: [] for name, _ in configs}
        for r in range(args.rounds):
            shift = r % len(configs)
            order = configs[shift:] + configs[:shift]
            reference = None
            for name, extra in order:
                work = args.work_dir / name.replace(" ", "")
                shutil.rmtree(work, ignore_errors=True)
                argv = [*cmd, *extra, "--mem", args.mem, "--seed", str(run.SEED), "-T", str(work / "tmp"), str(src)]
                result, out = measure_one(argv, work, args)
                if name == "local":
                    reference = args.work_dir / "reference"
                    out.replace(reference)
                rounds[name].append((result, out if name != "local" else None))
                run.log(
                    f"{profile} {name} round {r + 1}: {result['wall_s']:.1f} s, {result['peak_tree_rss'] / MiB:.0f} MiB"
                )
            for name, _ in configs[1:]:
                result, out = rounds[name][-1]
                result["same_bytes_as_local"] = bool(out and reference and run.same_bytes(out, reference))
                rounds[name][-1] = (result, None)
                shutil.rmtree(args.work_dir / name.replace(" ", ""), ignore_errors=True)
            rounds["local"][-1] = (rounds["local"][-1][0], None)
        rows = []
        for name, _ in configs:
            rs = [res for res, _ in rounds[name]]
            rows.append(
                {
                    "run": name,
                    "wall_s": statistics.median(x["wall_s"] for x in rs),
                    "cpu_s": statistics.median(x["cpu_s"] for x in rs),
                    "peak_tree_rss": max(x["peak_tree_rss"] for x in rs),
                    "ok": all(
                        x["exit_code"] == 0 and not x["leftovers"] and x.get("same_bytes_as_local", True) for x in rs
                    ),
                    "rounds": rs,
                }
            )
        results.append({"profile": profile, "corpus": meta, "rows": rows})
        shutil.rmtree(args.work_dir, ignore_errors=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "dask.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
        (args.out / "dask.md").write_text(markdown(results, machine, args))
    print((args.out / "dask.md").read_text())


def markdown(results: list[dict], machine: dict, args: argparse.Namespace) -> str:
    lines = [
        "# The Dask engine against the local engine",
        "",
        f"`python -m benchmarks.dask_bench --size {args.size} --mem {args.mem} --workers {args.workers} "
        f"--rounds {args.rounds}`, {machine['date']}, {machine['cpu_model']} ({machine['cores']} cores), "
        f"shuf-big {machine['shuf_big_git_commit']}. "
        "Medians of alternating rounds; peak RSS is the whole process tree's maximum (driver, nannies, workers); "
        "`same` = every Dask output equal to the local engine's, byte for byte.",
        "",
        "| profile | run | wall s | CPU s | peak tree RSS | vs local | same |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for res in results:
        local = res["rows"][0]["wall_s"]
        for row in res["rows"]:
            lines.append(
                f"| {res['profile']} | {row['run']} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} "
                f"| {row['peak_tree_rss'] / MiB:.0f} MiB | {row['wall_s'] / local:.2f}x "
                f"| {'yes' if row['ok'] else 'NO'} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
