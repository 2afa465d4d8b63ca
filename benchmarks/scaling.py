"""Linear scaling: the same profile at two sizes, the external path at one --mem.

    python -m benchmarks.scaling --sizes 2G,8G --profiles sentences,docs

The target (issue 3): an input 4x larger takes at most 4.4x the time (1.1x the size ratio)
with the same peak memory.  For each profile it builds the corpus at every size (corpus.py,
in ``DATA_DIR/scaling-SIZE/``), then runs ``shuf-big --mem MEM -T TMP --seed S`` on each
size, alternating sizes for ``--rounds`` rounds.  Each run is followed by run.py's I/O
floor (``cat IN > TMP && cat TMP > OUT``) on the same input, since a larger input may no
longer fit the page cache.  Wall time, CPU, the peak RSS of the process tree and temp
bytes are measured as run.py does, and every output is checked to be a permutation of
its input.  Writes ``scaling.md`` and ``scaling.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
from pathlib import Path

from benchmarks import corpus, run

MiB = run.MiB
SCALING_SLACK = 1.1  # allowed time ratio = size ratio x this (4x the input: 4.4x the time)


def digest(path: Path, cache: dict[Path, tuple[int, int]]) -> tuple[int, int]:
    if path not in cache:
        cache[path] = run.line_digest(path)
    return cache[path]


def run_size(profile: str, data: Path, work: Path, args: argparse.Namespace, env: dict, cache: dict) -> dict:
    """One measured external run on ``data``; the output is checked and removed."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    out = work / "out"
    argv = [*run.shuf_big_command(args.shuf_big), "--mem", args.mem, "-T", str(work / "tmp")]
    argv += ["--seed", str(run.SEED), "-o", str(out), str(data)]
    os.sync()
    m = run.measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=env)
    ok = m.exit_code == 0 and out.exists() and digest(data, cache) == run.line_digest(out)
    leftovers = list((work / "tmp").iterdir())
    out_size = out.stat().st_size if out.exists() else 0
    temp_bytes = max(m.io["write_bytes"] - out_size, 0) if m.io and "write_bytes" in m.io else None
    shutil.rmtree(work, ignore_errors=True)
    return {
        "wall_s": round(m.wall_s, 3),
        "cpu_s": round(m.cpu_s, 3),
        "peak_tree_rss": m.peak_tree_rss,
        "largest_process_rss": m.largest_process,
        "temp_bytes": temp_bytes,
        "exit_code": m.exit_code,
        "permutation": ok,
        "leftovers": len(leftovers),
        "stderr": m.stderr[-300:] if not ok else "",
    }


def run_floor(data: Path, work: Path, args: argparse.Namespace, env: dict) -> float:
    """Wall time of the two-pass I/O floor ``cat IN > TMP && cat TMP > OUT`` (run.py's)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tmp, out = shlex.quote(str(work / "floor.tmp")), shlex.quote(str(work / "out"))
    os.sync()
    argv = ["bash", "-c", f"cat {shlex.quote(str(data))} > {tmp} && cat {tmp} > {out}"]
    m = run.measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=env)
    shutil.rmtree(work, ignore_errors=True)
    return round(m.wall_s, 3)


def summarize(profile: str, sizes: list[int], metas: list[dict], rounds: dict[int, list[dict]]) -> dict:
    rows = []
    for size, meta in zip(sizes, metas, strict=True):
        rs = rounds[size]
        rows.append(
            {
                "size": size,
                "bytes": meta["bytes"],
                "lines": meta["lines"],
                "wall_s": statistics.median(r["wall_s"] for r in rs),
                "floor_s": statistics.median(r["floor_s"] for r in rs),
                "cpu_s": statistics.median(r["cpu_s"] for r in rs),
                "peak_tree_rss": max(r["peak_tree_rss"] for r in rs),
                "temp_bytes": max((r["temp_bytes"] or 0) for r in rs),
                "all_ok": all(r["permutation"] and not r["leftovers"] for r in rs),
                "rounds": rs,
            }
        )
    base = rows[0]
    for row in rows[1:]:
        size_ratio = row["bytes"] / base["bytes"]
        row["time_ratio"] = round(row["wall_s"] / base["wall_s"], 3)
        row["size_ratio"] = round(size_ratio, 3)
        row["target_time_ratio"] = round(size_ratio * SCALING_SLACK, 3)
        row["time_met"] = row["time_ratio"] <= row["target_time_ratio"]
        row["floor_ratio"] = round(row["floor_s"] / base["floor_s"], 3)
        row["rss_ratio"] = round(row["peak_tree_rss"] / base["peak_tree_rss"], 3)
    return {"profile": profile, "rows": rows}


def markdown(results: list[dict], machine: dict, args: argparse.Namespace) -> str:
    lines = [
        "# Linear scaling of the external path",
        "",
        f"`python -m benchmarks.scaling --sizes {args.sizes} --mem {args.mem} --rounds {args.rounds}`, "
        f"{machine['date']}, {machine['cpu_model']} ({machine['cores']} cores), "
        f"shuf-big {machine['shuf_big_git_commit']}, -j default ({machine['cores_usable']}). "
        f"Medians of {args.rounds} alternating rounds; peak RSS is the maximum.",
        "",
        "| profile | input | lines | wall s | CPU s | I/O floor s | peak tree RSS | temp written "
        "| time ratio (target) | floor ratio | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for row in res["rows"]:
            ratio, floor = "base", "base"
            if "time_ratio" in row:
                floor = f"{row['floor_ratio']:.2f}x"
                verdict = "met" if row["time_met"] else "NOT met"
                ratio = f"{row['time_ratio']:.2f}x (≤ {row['target_time_ratio']:.2f}x) {verdict}"
            lines.append(
                f"| {res['profile']} | {corpus.format_size(row['bytes'])} | {row['lines']:,} | {row['wall_s']:.1f} "
                f"| {row['cpu_s']:.1f} | {row['floor_s']:.1f} | {row['peak_tree_rss'] / MiB:.0f} MiB "
                f"| {row['temp_bytes'] / row['bytes']:.2f}x input | {ratio} | {floor} "
                f"| {'yes' if row['all_ok'] else 'NO'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2G,8G", help="comma-separated input sizes, smallest first [2G,8G]")
    parser.add_argument("--profiles", default="sentences,docs", help="comma-separated [sentences,docs]")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds [2]")
    parser.add_argument("--mem", default=run.EXTERNAL_MEM, help=f"--mem of every run [{run.EXTERNAL_MEM}]")
    parser.add_argument("--data-dir", type=Path, default=run.HERE / "data", help="corpora go in DATA_DIR/scaling-SIZE")
    parser.add_argument("--out", type=Path, default=run.HERE / "results", help="results directory")
    parser.add_argument("--shuf-big", default=None, help="command that runs shuf-big")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    parser.add_argument("--timeout", type=float, default=7200, help="kill a run after this many seconds")
    args = parser.parse_args(argv)
    if run.psutil is None:
        sys.exit("scaling.py needs psutil: pip install -r benchmarks/requirements.txt")
    size_names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    sizes = [corpus.parse_size(s) for s in size_names]
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    args.work_dir = args.data_dir / "scaling-run"
    machine = run.machine_info(args)
    env = dict(os.environ)
    results = []
    for profile in profiles:
        dirs = [args.data_dir / f"scaling-{name}" for name in size_names]
        metas = [corpus.build(profile, d, size) for d, size in zip(dirs, sizes, strict=True)]
        paths = [d / corpus.FILES[profile] for d in dirs]
        cache: dict[Path, tuple[int, int]] = {}
        rounds: dict[int, list[dict]] = {size: [] for size in sizes}
        for r in range(args.rounds):
            order = list(zip(sizes, paths, strict=True))
            if r % 2:
                order.reverse()
            for size, path in order:
                result = run_size(profile, path, args.work_dir, args, env, cache)
                result["floor_s"] = run_floor(path, args.work_dir, args, env)
                rounds[size].append(result)
                run.log(
                    f"{profile} {corpus.format_size(size)} round {r + 1}: {result['wall_s']:.1f} s, "
                    f"{result['peak_tree_rss'] / MiB:.0f} MiB, permutation={result['permutation']}, "
                    f"floor {result['floor_s']:.1f} s"
                )
        results.append(summarize(profile, sizes, metas, rounds))
        args.out.mkdir(parents=True, exist_ok=True)
        machine["load_average_end"] = os.getloadavg()
        (args.out / "scaling.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
        (args.out / "scaling.md").write_text(markdown(results, machine, args))
    print((args.out / "scaling.md").read_text())


if __name__ == "__main__":
    main()
