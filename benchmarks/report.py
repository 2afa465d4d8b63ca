"""Write results.md, results.json and chart.png from the numbers run.py collected.

python -m benchmarks.report benchmarks/results/results.json   # redraw the .md and .png
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import pipeline
from benchmarks.units import MiB, format_size

SLICE_KINDS = ("sort_slice", "shuf_slice", "inmem_slice", "terashuf_slice")
CHART_COLORS = {
    "floor": "0.65",
    "external": "tab:blue",
    "inmem": "tab:green",
    "shuf": "tab:orange",
    "terashuf": "tab:brown",
    "duckdb": "tab:pink",
}


def fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def fmt_mib(x: float | None) -> str:
    return "n/a" if x is None else f"{x / MiB:.0f} MiB"


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def fmt_met(x: bool | None) -> str:
    return "n/a" if x is None else ("yes" if x else "**no**")


def header(data: dict) -> list[str]:
    m = data["machine"]
    cfg = data["config"]
    version = m["shuf_big_version"].split()[-1]
    dirty = " plus uncommitted changes to shuf_big/" if m["shuf_big_uncommitted_changes"] else ""
    load = ", ".join(f"{x:.2f}" for x in m["load_average_start"])
    return [
        "# shuf-big benchmark results",
        "",
        f"- Date: {m['date']}; corpora of {format_size(cfg['size'])} each; "
        f"median of {cfg['rounds']} alternating round(s).",
        f"- shuf-big {version} (git {m['shuf_big_git_commit']}{dirty}), run as `{shlex.join(m['shuf_big_command'])}`.",
        f"- Machine: {m['cpu_model']}; {m['cores_usable']} usable cores; {fmt_mib(m['ram_bytes'])} RAM; "
        f"Linux {m['kernel']}; Python {m['python']}; numpy {m['numpy']}; {m['coreutils']}.",
        f"- Work files (outputs and temp) on {m['work_filesystem']}; load average at start: {load}.",
        f"- Peers: terashuf {peer(m.get('terashuf'), 'not run (no binary)')}; "
        f"DuckDB {peer(m.get('duckdb'), 'not run (duckdb not importable)')}.",
        "- Inputs are in the page cache (just built or read), outputs and temp files are written to the "
        "page cache and synced between runs: these are CPU-bound figures. Column meanings and caveats: "
        "benchmarks/README.md.",
    ]


def peer(value: str | None, missing: str) -> str:
    return f"`{value}`" if value else missing


def ratio_table(data: dict) -> list[str]:
    peak_target = data["config"]["targets"]["peak_tree_rss"]
    lines = [
        "## Ratios against the targets",
        "",
        "| profile | external / floor | target | met | in memory / GNU shuf | target | met "
        "| external peak RSS, tree | target | met | external -j 1, s | external -j 2, s | -j 1 / -j 2 |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    flagged = False
    for profile, res in data["profiles"].items():
        r = res["ratios"]
        tools = res["tools"]
        walls = [
            fmt_s(tools.get(k, {}).get("summary", {}).get("wall_median_s")) for k in ("external_j1", "external_j2")
        ]
        notes = {}
        for name, key in (("external", r["external_key"]), ("inmem", "in_memory")):
            status = tools.get(key, {}).get("summary", {}).get("status", "ok") if key else "ok"
            notes[name] = f" ({status})" if status != "ok" else ""
            flagged |= status != "ok"
        lines.append(
            f"| {profile} "
            f"| {fmt_ratio(r['external_vs_floor'])}{notes['external']} | <= {r['external_vs_floor_target']}x "
            f"| {fmt_met(r['external_vs_floor_met'])} "
            f"| {fmt_ratio(r['inmem_vs_shuf'])}{notes['inmem']} | <= {r['inmem_vs_shuf_target']}x "
            f"| {fmt_met(r['inmem_vs_shuf_met'])} "
            f"| {fmt_mib(r['external_peak_tree_rss'])} | <= {fmt_mib(peak_target)} "
            f"| {fmt_met(r['external_peak_tree_rss_met'])} "
            f"| {walls[0]} | {walls[1]} | {fmt_ratio(r['j1_vs_j2'])} |"
        )
    cores = data["machine"]["cores_usable"]
    lines += [
        "",
        f"External is `--mem {data['config']['external_mem']}` with the default worker count (`-j {cores}` here). "
        "Its peak RSS is the highest of all external runs (every -j, every round). "
        "-j 1 / -j 2 above 1.00x means two workers are faster than one.",
    ]
    if flagged:
        lines[-1] += " A ratio marked (warn) or (fail) comes from runs whose check column below says what went wrong."
    return lines


def peer_table(data: dict) -> list[str]:
    """shuf-big against terashuf and DuckDB at the same memory, and the small-input (slice) case."""
    kinds = {t["kind"] for res in data["profiles"].values() for t in res["tools"].values()}
    if not kinds & {"terashuf", "duckdb", "inmem_slice"}:
        return []  # results of a suite that had none of these runs
    small = format_size(data["config"]["slice"])
    lines = [
        "## Against terashuf and DuckDB, and on small inputs",
        "",
        "| profile | external, s | terashuf, s | external / terashuf | target | met | DuckDB, s | DuckDB / external "
        "| slice | in memory, s | GNU shuf, s | in memory / GNU shuf | target | met | terashuf / GNU shuf |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for profile, res in data["profiles"].items():
        r = res["ratios"]
        tools = res["tools"]

        def wall(key: str | None, tools: dict = tools) -> str:
            return fmt_s(tools.get(key or "", {}).get("summary", {}).get("wall_median_s"))

        slice_size = format_size(res["corpus"]["bytes"] if res.get("slice_is_corpus") else res.get("slice_bytes", 0))
        lines.append(
            f"| {profile} | {wall(r['external_key'])} | {wall('terashuf')} "
            f"| {fmt_ratio(r.get('external_vs_terashuf'))} "
            f"| <= {r.get('external_vs_terashuf_target', 0.4)}x | {fmt_met(r.get('external_vs_terashuf_met'))} "
            f"| {wall('duckdb')} | {fmt_ratio(r.get('duckdb_vs_external'))} "
            f"| {slice_size} | {wall(r.get('slice_inmem_key'))} | {wall(r.get('slice_shuf_key'))} "
            f"| {fmt_ratio(r.get('slice_inmem_vs_shuf'))} | <= {r.get('slice_inmem_vs_shuf_target', 0.7)}x "
            f"| {fmt_met(r.get('slice_inmem_vs_shuf_met'))} | {fmt_ratio(r.get('slice_terashuf_vs_shuf'))} |"
        )
    cfg = data["config"]
    duck_mem = cfg.get("duckdb_mem") or cfg["external_mem"]
    duck_limit = "the external --mem" if duck_mem == cfg["external_mem"] else f"{duck_mem} (`--duckdb-mem`)"
    notes = [
        "",
        "terashuf: not run (no binary: `--terashuf PATH`, see benchmarks/README.md)."
        if "terashuf" not in kinds
        else f"terashuf runs as `MEMORY={cfg.get('terashuf_memory_gib') or 0:g} SEED=1 TMPDIR=TMP terashuf < IN > OUT` "
        f"(MEMORY in GiB, the external runs' --mem {cfg['external_mem']}; its real peak is about twice MEMORY on short "
        "lines, as its per-line index is not counted); on the slice, with the in-memory run's --mem. "
        f"The slice is the corpus's first {small}, cut at a line end: wall times there include start-up.",
        "DuckDB: not run (`pip install duckdb` for its column)."
        if "duckdb" not in kinds
        else f"DuckDB runs `ORDER BY random()` (benchmarks/peers.py) with `memory_limit` = {duck_limit} and "
        "one thread per core. It refuses input that is not valid UTF-8: such a corpus is cleaned with `iconv -c` "
        "first (the bytes dropped are in results.json) and DuckDB's column is on that copy. Its output is not "
        "reproducible "
        "(`random()` has no seed that survives threads) and is checked for size only; terashuf's likewise.",
    ]
    dropped = {p: res.get("duckdb_input_dropped_bytes") for p, res in data["profiles"].items()}
    cleaned = [f"{p} ({n:,} bytes dropped)" for p, n in dropped.items() if n]
    if cleaned:
        notes[-1] += " Cleaned for DuckDB here: " + ", ".join(cleaned) + "."
    return lines + notes


def profile_table(profile: str, res: dict) -> list[str]:
    c = res["corpus"]
    tools = res["tools"]
    floor = tools.get("floor", {}).get("summary", {}).get("wall_median_s")
    lines = [
        f"## {profile}: {format_size(c['bytes'])}, {c['lines']:,} lines, {c['bytes_per_line']} bytes/line",
        "",
        "| run | wall s, median | wall s, min-max | CPU s, user+sys | peak RSS, tree | largest process "
        "| written to temp | wall / floor | check |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in tools.values():
        s = t["summary"]
        label = t["label"]
        if t["kind"] in SLICE_KINDS:
            label += f" ({format_size(t['input_bytes'])})"
        if "wall_median_s" not in s:
            lines.append(f"| {label} | failed | | | | | | | {s['status']}: {'; '.join(s['checks'])} |")
            continue
        rel = fmt_ratio(s["wall_median_s"] / floor) if floor and t["kind"] not in SLICE_KINDS else "-"
        temp = "n/a"
        if s["temp_bytes_median"] is not None:
            temp = f"{s['temp_bytes_median'] / MiB:.0f} MiB ({s['temp_bytes_median'] / t['input_bytes']:.2f}x input)"
        check = s["status"]
        if s["status"] != "ok":
            check += ": " + "; ".join(s["checks"])
        elif t["kind"] in ("external", "inmem"):
            check += ": permutation"
        lines.append(
            f"| {label} | {fmt_s(s['wall_median_s'])} | {fmt_s(s['wall_min_s'])}-{fmt_s(s['wall_max_s'])} "
            f"| {fmt_s(s['cpu_median_s'])} | {fmt_mib(s['peak_tree_rss_max'])} "
            f"| {fmt_mib(s['largest_process_rss_max'])} | {temp} | {rel} | {check} |"
        )
    srt = tools.get("sort_r_slice")
    if srt and "wall_median_s" in srt["summary"]:
        wall = srt["summary"]["wall_median_s"]
        factor = c["bytes"] / srt["input_bytes"]
        text = (
            f"`sort -R` runs on the first {format_size(srt['input_bytes'])} of the corpus only (it is slow): "
            f"{fmt_s(wall)} s, {fmt_ratio(res['ratios']['sort_r_slice_vs_shuf_slice'])} the time of GNU shuf on "
            "the same slice."
        )
        if factor > 1.01:
            text += (
                f" Scaled linearly to the whole corpus (x{factor:.1f}): **~{wall * factor:.0f} s, extrapolated, "
                "not measured** (an underestimate: sort is O(n log n))."
            )
        else:
            text += " Here the slice is the whole corpus."
        lines += ["", text]
    return lines


def write_markdown(path: Path, data: dict) -> None:
    peers = peer_table(data)
    lines = [*header(data), "", *ratio_table(data), *(["", *peers] if peers else [])]
    if data.get("pipeline"):
        lines += ["", *pipeline.markdown(data, data["config"]["external_mem"])]
    for profile, res in data["profiles"].items():
        lines += ["", *profile_table(profile, res)]
    lines += [
        "",
        "## Reading the tables",
        "",
        "- wall: median over the rounds (min-max beside it); CPU: user+sys of the whole process tree (wait4).",
        "- peak RSS, tree: the highest sum of VmRSS over the process and all its descendants, sampled every "
        f"{data['config']['rss_interval_s'] * 1000:.0f} ms, maximum over the rounds; largest process: the peak RSS of "
        "the biggest single process.",
        "- written to temp: write_bytes of the process tree (/proc/PID/io) minus the output's size.",
        "- floor: `cat in > tmp; cat tmp > out` in the same directories, the bytes any two-pass shuffle moves.",
        "- check: ok means exit status 0 and an output of the input's size; for shuf-big, permutation means the "
        "profile's first output has the input's line count and order-independent line digest, and every later "
        "output (same --seed, any --mem or -j) is byte-identical to it. warn: the run did something unexpected "
        "(took the other path, left temp files, or differed between runs).",
    ]
    lines += ["", "## Commands", "", "As run, with `LC_ALL=C`, standard output to /dev/null:"]
    for profile, res in data["profiles"].items():
        commands = [t.get("command") or shlex.join(t["argv"]) for t in res["tools"].values()]
        lines += ["", f"{profile}:", "", "```sh", *commands, "```"]
    if data.get("pipeline"):
        runs = data["pipeline"]["runs"].values()
        lines += ["", "pipeline:", "", "```sh", *(shlex.join(r["argv"]) for r in runs), "```"]
    path.write_text("\n".join(lines) + "\n")


def chart_label(tool: dict) -> str:
    if tool["kind"] == "floor":
        return "I/O floor\n(cat x2)"
    if tool["kind"] == "duckdb":
        return "DuckDB\nORDER BY random()"
    if tool["kind"] == "terashuf":
        return tool["label"].replace(" MEMORY", "\nMEMORY")
    return tool["label"].replace("shuf-big ", "").replace(" (--mem", "\n(--mem")


def profile_panel(ax: Any, profile: str, res: dict, handles: dict[str, Any]) -> None:
    """One profile's median wall times, one bar a run, with the floor and the targets as lines."""
    r = res["ratios"]
    tools = {k: t for k, t in res["tools"].items() if t["kind"] in CHART_COLORS and "wall_median_s" in t["summary"]}
    values = [t["summary"].get("wall_median_s", 0.0) for t in tools.values()]
    colors = [
        "tab:cyan" if t["kind"] == "external" and t["jobs"] != 1 else CHART_COLORS[t["kind"]] for t in tools.values()
    ]
    bars = ax.bar(range(len(values)), values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.1f}" if v >= 10 else f"{v:.2f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(values)), [chart_label(t) for t in tools.values()], rotation=30, ha="right", fontsize=8)
    top = max([*values, 1e-6])
    floor = tools.get("floor", {}).get("summary", {}).get("wall_median_s")
    if floor:
        handles["floor"] = ax.axhline(floor, color="0.3", linestyle=":", linewidth=1.2)
        goal = floor * r["external_vs_floor_target"]
        handles["external"] = ax.axhline(goal, color="tab:red", linestyle="--", linewidth=1)
        top = max(top, goal)
    shuf = tools.get("gnu_shuf", {}).get("summary", {}).get("wall_median_s")
    if shuf and "in_memory" in tools:
        i = list(tools).index("in_memory")
        goal = shuf * r["inmem_vs_shuf_target"]
        handles["inmem"] = ax.hlines(goal, i - 0.45, i + 0.45, color="tab:purple", linewidth=2.5)
    terashuf = tools.get("terashuf", {}).get("summary", {}).get("wall_median_s")
    if terashuf and r.get("external_key") in tools:
        i = list(tools).index(r["external_key"])
        goal = terashuf * r["external_vs_terashuf_target"]
        handles["terashuf"] = ax.hlines(goal, i - 0.45, i + 0.45, color="tab:red", linewidth=2.5)
    c = res["corpus"]
    ax.set_title(
        f"{profile}: {format_size(c['bytes'])}, {c['bytes_per_line']:.0f} B/line\n"
        f"targets: external {r['external_vs_floor_target']}x floor, "
        f"in memory {r['inmem_vs_shuf_target']}x GNU shuf",
        fontsize=9,
    )
    ax.set_ylabel("median wall time, s")
    ax.set_ylim(0, top * 1.12)


def write_chart(path: Path, data: dict) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("matplotlib is missing, so no chart: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return False
    profiles = list(data["profiles"])
    panels = len(profiles) + (1 if data.get("pipeline") else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 5.0), squeeze=False)
    handles: dict[str, Any] = {}
    if data.get("pipeline"):
        pipeline_panel(axes[0][-1], data["pipeline"])
    for ax, profile in zip(axes[0], profiles, strict=False):
        profile_panel(ax, profile, data["profiles"][profile], handles)
    names = {
        "floor": "two-pass I/O floor",
        "external": "external target (x floor)",
        "inmem": "in-memory target (x GNU shuf)",
        "terashuf": "external target (x terashuf)",
    }
    fig.legend(
        [handles[k] for k in names if k in handles],
        [names[k] for k in names if k in handles],
        loc="lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    m = data["machine"]
    fig.suptitle(
        f"shuf-big (external: --mem {data['config']['external_mem']}) against GNU shuf, terashuf, DuckDB and the "
        "I/O floor; "
        f"median of {data['config']['rounds']} round(s), {m['cores_usable']} cores, {m['date'][:10]}. "
        "sort -R: see results.md",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def pipeline_panel(ax: Any, p: dict) -> None:
    """The pipeline runs' median wall times, one bar each."""
    runs = [r for r in p["runs"].values() if "wall_median_s" in r["summary"]]
    values = [r["summary"]["wall_median_s"] for r in runs]
    bars = ax.bar(range(len(values)), values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=8)
    labels = [r["label"].replace(" -> ", "\n-> ") for r in runs]
    ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(f"pipeline: {p['profile']}, {p['shards']} shards in and out", fontsize=9)
    ax.set_ylabel("median wall time, s")


def write_all(out_dir: Path, data: dict, *, chart: bool = True) -> None:
    """Write the three files (the chart unless told not to); the chart in a child process
    (matplotlib is big, and the caller measures other processes' memory against its own)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    write_markdown(out_dir / "results.md", data)
    if chart:
        subprocess.run(
            [sys.executable, "-m", "benchmarks.report", str(out_dir.resolve() / "results.json"), "--chart-only"]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_json", type=Path)
    parser.add_argument("--chart-only", action="store_true", help="do not rewrite results.md")
    args = parser.parse_args()
    data = json.loads(args.results_json.read_text())
    if not args.chart_only:
        write_markdown(args.results_json.with_name("results.md"), data)
    write_chart(args.results_json.with_name("chart.png"), data)


if __name__ == "__main__":
    main()
