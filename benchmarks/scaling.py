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
import os
import shlex
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.commands import (
    EXTERNAL_MEM,
    SEED,
    add_common_options,
    log,
    machine_info,
    require_psutil,
    shuf_big_command,
)
from benchmarks.digests import line_digest
from benchmarks.measure import fresh_work, measure, settle
from benchmarks.summary import ratio
from benchmarks.tables import markdown_table, run_header, write_results
from benchmarks.units import MiB, format_size, parse_size, split_list

SCALING_SLACK = 1.1  # allowed time ratio = size ratio x this (4x the input: 4.4x the time)


def digest(path: Path, cache: dict[Path, tuple[int, int]]) -> tuple[int, int]:
    """The input's line digest, taken once per input."""
    if path not in cache:
        cache[path] = line_digest(path)
    return cache[path]


def run_size(data: Path, work: Path, args: argparse.Namespace, cache: dict[Path, tuple[int, int]]) -> dict[str, Any]:
    """One measured external run on ``data``; the output is checked and removed."""
    fresh_work(work)
    out = work / "out"
    argv = [*shuf_big_command(args.shuf_big), "--mem", args.mem, "-T", str(work / "tmp")]
    argv += ["--seed", str(SEED), "-o", str(out), str(data)]
    settle(args.sync, args.settle)
    m = measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=dict(os.environ))
    ok = m.exit_code == 0 and out.exists() and digest(data, cache) == line_digest(out)
    leftovers = list((work / "tmp").iterdir())
    out_size = out.stat().st_size if out.exists() else 0
    return {
        **m.record(),
        "temp_bytes": m.temp_bytes(out_size),
        "permutation": ok,
        "leftovers": len(leftovers),
        "stderr": m.stderr[-300:] if not ok else "",
    }


def run_floor(data: Path, work: Path, args: argparse.Namespace) -> float:
    """Wall time of the two-pass I/O floor ``cat IN > TMP && cat TMP > OUT`` (run.py's)."""
    fresh_work(work)
    tmp, out = shlex.quote(str(work / "tmp" / "floor.tmp")), shlex.quote(str(work / "out"))
    settle(args.sync, args.settle)
    argv = ["bash", "-c", f"cat {shlex.quote(str(data))} > {tmp} && cat {tmp} > {out}"]
    m = measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=dict(os.environ))
    return round(m.wall_s, 3)


def summarize(
    profile: str, sizes: list[int], metas: list[dict[str, Any]], rounds: dict[int, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Per size: medians over the rounds; beyond the first size, the ratios to it."""
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
        floor_ratio = ratio(row["floor_s"], base["floor_s"])  # None where the floor took no measurable time
        row["floor_ratio"] = None if floor_ratio is None else round(floor_ratio, 3)
        row["rss_ratio"] = round(row["peak_tree_rss"] / base["peak_tree_rss"], 3)
    return {"profile": profile, "rows": rows}


def markdown(results: list[dict[str, Any]], machine: dict[str, Any], args: argparse.Namespace) -> str:
    """scaling.md: one row per profile and size."""
    lines = run_header(
        "Linear scaling of the external path",
        f"python -m benchmarks.scaling --sizes {args.sizes} --mem {args.mem} --rounds {args.rounds}",
        machine,
        f"-j default ({machine['cores_usable']}); medians of {args.rounds} alternating rounds; "
        "peak RSS is the maximum.",
    )
    rows = []
    for res in results:
        for row in res["rows"]:
            ratio, floor = "base", "base"
            if "time_ratio" in row:
                floor = "n/a" if row["floor_ratio"] is None else f"{row['floor_ratio']:.2f}x"
                verdict = "met" if row["time_met"] else "NOT met"
                ratio = f"{row['time_ratio']:.2f}x (≤ {row['target_time_ratio']:.2f}x) {verdict}"
            size, temp = format_size(row["bytes"]), f"{row['temp_bytes'] / row['bytes']:.2f}x input"
            peak, ok = f"{row['peak_tree_rss'] / MiB:.0f} MiB", "yes" if row["all_ok"] else "NO"
            figures = [f"{row['wall_s']:.1f}", f"{row['cpu_s']:.1f}", f"{row['floor_s']:.1f}"]
            rows.append([res["profile"], size, f"{row['lines']:,}", *figures, peak, temp, ratio, floor, ok])
    header = ["profile", "input", "lines", "wall s", "CPU s", "I/O floor s", "peak tree RSS", "temp written"]
    header += ["time ratio (target)", "floor ratio", "ok"]
    return "\n".join(lines + markdown_table(header, "|".join(["---"] * len(header)), rows)) + "\n"


def run_profile(profile: str, sizes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Build the profile at every size and run each, alternating sizes round by round."""
    dirs = [args.data_dir / f"scaling-{name}" for name in sizes]
    nbytes = [parse_size(name) for name in sizes]
    metas = [corpus.build(profile, d, n, text=args.text) for d, n in zip(dirs, nbytes, strict=True)]
    paths = [d / corpus.FILES[profile] for d in dirs]
    cache: dict[Path, tuple[int, int]] = {}
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in nbytes}
    for r in range(args.rounds):
        order = list(zip(nbytes, paths, strict=True))
        for size, path in order[::-1] if r % 2 else order:
            result = run_size(path, args.work_dir, args, cache)
            result["floor_s"] = run_floor(path, args.work_dir, args)
            rounds[size].append(result)
            log(
                f"{profile} {format_size(size)} round {r + 1}: {result['wall_s']:.1f} s, "
                f"{result['peak_tree_rss'] / MiB:.0f} MiB, permutation={result['permutation']}, "
                f"floor {result['floor_s']:.1f} s"
            )
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return summarize(profile, nbytes, metas, rounds)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2G,8G", help="comma-separated input sizes, smallest first [2G,8G]")
    parser.add_argument("--profiles", default="sentences,docs", help="comma-separated [sentences,docs]")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds [2]")
    parser.add_argument("--mem", default=EXTERNAL_MEM, help=f"--mem of every run [{EXTERNAL_MEM}]")
    add_common_options(parser, timeout=7200, data_help="corpora go in DATA_DIR/scaling-SIZE")
    args = parser.parse_args(argv)
    require_psutil(parser)
    args.work_dir = args.data_dir / "scaling-run"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_info(shuf_big_command(args.shuf_big), args.work_dir)
    results = []
    for profile in split_list(args.profiles):
        results.append(run_profile(profile, split_list(args.sizes), args))
        write_results(args.out, "scaling", machine, results, markdown(results, machine, args))
    print((args.out / "scaling.md").read_text())


if __name__ == "__main__":
    main()
