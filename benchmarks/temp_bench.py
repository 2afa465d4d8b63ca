"""Compressed temp files: temp space and time of ``--compress-temp`` against GNU sort's.

    python -m benchmarks.temp_bench --sizes 500M,2G --profiles words,sentences,docs

For each size and profile (corpus.py, in ``DATA_DIR/tempc-SIZE/``) it runs, alternating
for ``--rounds`` rounds, ``shuf-big IN -o OUT --mem MEM -j J -T TMP --seed S -v`` with
``--compress-temp never``, ``always`` and ``auto`` (the temp directory has ample space, so
``auto`` must not compress), and on ``--sort-profiles`` GNU ``sort -S SORT_MEM
--parallel=J -T TMP`` plain and with ``--compress-program=zstd``, as the issue compares.

Temp bytes are those ``-v`` reports: the bucket files, all alive at the end of pass 1 (the
peak, when no bucket is split; the split count is reported).  Every output must be a
permutation of its input (sort's: its sorted lines), with nothing left in TMP.  Writes
``temp.md`` and ``temp.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.commands import SEED, add_common_options, log, machine_info, require_psutil, shuf_big_command
from benchmarks.digests import line_digest
from benchmarks.measure import fresh_work, measure, settle
from benchmarks.tables import markdown_table, run_header, write_results
from benchmarks.units import MiB, format_size, parse_size, split_list

MODES = ("never", "always", "auto")
# The issue's targets: temp bytes against the input (words' index gaps compress less), and
# wall time against ``never``.
TEMP_TARGETS = {"words": 0.5, "sentences": 0.45, "docs": 0.45}
TIME_TARGETS = {"always": 1.5, "auto": 1.1}
_TEMP = re.compile(r"([0-9.]+) (B|KiB|MiB|GiB|TiB) of temp files( \(compressed)?")
_SPLITS = re.compile(r"\((\d+) buckets, (\d+) split\)")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def shuf_big_run(mode: str, data: Path, work: Path, args: argparse.Namespace, cache: dict[Path, Any]) -> dict[str, Any]:
    """One measured shuf-big run, its output checked against its input and removed."""
    fresh_work(work)
    out = work / "out"
    argv = [*shuf_big_command(args.shuf_big), str(data), "-o", str(out), "--mem", args.mem, "-j", str(args.jobs)]
    argv += ["-T", str(work / "tmp"), "--seed", str(SEED), "--compress-temp", mode, "-v"]
    m = _measure(argv, work, args)
    found, splits = _TEMP.search(m.stderr), _SPLITS.search(m.stderr)
    temp = round(float(found.group(1)) * _UNITS[found.group(2)]) if found else None
    ok = m.exit_code == 0 and cache.setdefault(data, line_digest(data)) == line_digest(out)
    return {
        **m.record(),
        "temp_bytes": temp,
        "compressed": bool(found and found.group(3)),
        "splits": int(splits.group(2)) if splits else None,
        "ok": ok and not list((work / "tmp").iterdir()),
    }


def sort_run(compressed: bool, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """GNU sort on ``data``, plain or compressing its temp files with zstd."""
    fresh_work(work)
    out = work / "out"
    argv = ["sort", "-S", args.sort_mem, f"--parallel={args.jobs}", "-T", str(work / "tmp"), "-o", str(out)]
    argv += [*(["--compress-program=zstd"] if compressed else []), str(data)]
    m = _measure(argv, work, args)
    ok = m.exit_code == 0 and out.stat().st_size == data.stat().st_size
    return {**m.record(), "ok": ok and not list((work / "tmp").iterdir())}


def _measure(argv: list[str], work: Path, args: argparse.Namespace) -> Any:
    settle(args.sync, args.settle)
    env = {**os.environ, "LC_ALL": "C"}  # sort compares bytes, as shuf-big does
    return measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=env)


def runs_of(profile: str, args: argparse.Namespace) -> list[str]:
    """shuf-big's modes, and GNU sort's two runs where asked for and ``zstd`` is installed."""
    sort = profile in args.sort_profiles and shutil.which("sort") and shutil.which("zstd")
    return [*MODES, *(["sort", "sort+zstd"] if sort else [])]


def one_profile(profile: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every run of ``profile`` at size ``label`` (``2G``), alternating for the rounds:
    medians and ratios."""
    size = parse_size(label)
    meta = corpus.build(profile, args.data_dir / f"tempc-{label}", size, text=args.text)
    data = args.data_dir / f"tempc-{label}" / corpus.FILES[profile]
    names = runs_of(profile, args)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    cache: dict[Path, Any] = {}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name.startswith("sort"):
                record = sort_run(name == "sort+zstd", data, args.work_dir, args)
            else:
                record = shuf_big_run(name, data, args.work_dir, args, cache)
            rounds[name].append(record)
            log(f"temp {profile} {format_size(size)} {name} round {r + 1}: {record['wall_s']:.1f} s")
    rows = {name: summary(rs, meta["bytes"]) for name, rs in rounds.items()}
    for name in ("always", "auto"):
        rows[name]["time_ratio"] = round(rows[name]["wall_s"] / rows["never"]["wall_s"], 3)
    if "sort" in rows:
        rows["sort+zstd"]["time_ratio"] = round(rows["sort+zstd"]["wall_s"] / rows["sort"]["wall_s"], 3)
    return {"profile": profile, "size": size, "bytes": meta["bytes"], "lines": meta["lines"], "rows": rows,
            "rounds": rounds}  # fmt: skip


def summary(rounds: list[dict[str, Any]], nbytes: int) -> dict[str, Any]:
    temps = [r["temp_bytes"] for r in rounds if r.get("temp_bytes") is not None]
    return {
        "wall_s": statistics.median(r["wall_s"] for r in rounds),
        "cpu_s": statistics.median(r["cpu_s"] for r in rounds),
        "peak_tree_rss": max(r["peak_tree_rss"] for r in rounds),
        "temp_ratio": round(max(temps) / nbytes, 3) if temps else None,
        "compressed": any(r.get("compressed") for r in rounds),
        "splits": max((r.get("splits") or 0) for r in rounds),
        "ok": all(r["ok"] for r in rounds),
    }


def markdown(results: list[dict[str, Any]], machine: dict[str, Any], args: argparse.Namespace) -> str:
    lines = run_header(
        "Compressed temp files",
        f"python -m benchmarks.temp_bench --sizes {args.sizes} --profiles {','.join(args.profiles)} --mem {args.mem} "
        f"-j {args.jobs} --rounds {args.rounds}",
        machine,
        f"Medians of {args.rounds} alternating rounds; temp = the bucket files `-v` reports against the input "
        "(the peak where no bucket was split: `splits`); ratio = wall time against `never` (sort+zstd: against sort).",
    )
    rows = []
    for res in results:
        for name, row in res["rows"].items():
            temp = "-" if row["temp_ratio"] is None else f"{row['temp_ratio']:.2f}x"
            if name == "always" and row["temp_ratio"] is not None:
                target = TEMP_TARGETS.get(res["profile"], 0.45)
                temp += f" (≤ {target}x {'met' if row['temp_ratio'] <= target else 'MISSED'})"
            ratio = "-"
            if "time_ratio" in row:
                ratio = f"{row['time_ratio']:.2f}x"
                if name in TIME_TARGETS:
                    met = "met" if row["time_ratio"] <= TIME_TARGETS[name] else "MISSED"
                    ratio += f" (≤ {TIME_TARGETS[name]}x {met})"
            figures = [f"{row['wall_s']:.1f}", f"{row['cpu_s']:.1f}", f"{row['peak_tree_rss'] / MiB:.0f} MiB"]
            rows.append([res["profile"], format_size(res["bytes"]), name, *figures, temp, str(row["splits"]), ratio,
                         "yes" if row["ok"] else "NO"])  # fmt: skip
    header = ["profile", "input", "run", "wall s", "CPU s", "peak tree RSS", "temp / input", "splits", "time ratio"]
    header.append("ok")
    return "\n".join(lines + markdown_table(header, "---|---:|---|---:|---:|---:|---:|---:|---:|---", rows)) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500M,2G", help="corpus sizes [500M,2G]")
    parser.add_argument("--profiles", type=split_list, default=list(corpus.PROFILES), help="[words,sentences,docs]")
    parser.add_argument("--mem", default="256M", help="--mem of every run [256M]")
    parser.add_argument("--jobs", type=int, default=2, help="-j of shuf-big, --parallel of sort [2]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds [3]")
    parser.add_argument("--sort-profiles", type=split_list, default=["sentences"], help="profiles sort runs on")
    parser.add_argument("--sort-mem", default="64M", help="sort -S [64M]")
    add_common_options(parser, timeout=3600, data_help="corpora go in DATA_DIR/tempc-SIZE")
    args = parser.parse_args(argv)
    require_psutil(parser)
    args.work_dir = (args.data_dir / "tempc-run").resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_info(shuf_big_command(args.shuf_big), args.data_dir)
    results = []
    for label in split_list(args.sizes):
        for profile in args.profiles:
            results.append(one_profile(profile, label, args))
            write_results(args.out, "temp", machine, results, markdown(results, machine, args))
    shutil.rmtree(args.work_dir, ignore_errors=True)
    print((args.out / "temp.md").read_text())


if __name__ == "__main__":
    main()
