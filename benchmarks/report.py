"""Write results.md, results.json and chart.png from the numbers run.py collected.

python benchmarks/report.py benchmarks/results/results.json   # redraw the .md and .png
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from corpus import format_size

MiB = 1 << 20
SLICE_KINDS = ("sort_slice", "shuf_slice")
CHART_COLORS = {"floor": "0.65", "external": "tab:blue", "inmem": "tab:green", "shuf": "tab:orange"}


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
        "- Inputs are in the page cache (just built or read), outputs and temp files are written to the "
        "page cache and synced between runs: these are CPU-bound figures. Column meanings and caveats: "
        "benchmarks/README.md.",
    ]


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
    lines = [*header(data), "", *ratio_table(data)]
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
        lines += ["", f"{profile}:", "", "```sh", *(shlex.join(t["argv"]) for t in res["tools"].values()), "```"]
    path.write_text("\n".join(lines) + "\n")


def chart_label(tool: dict) -> str:
    if tool["kind"] == "floor":
        return "I/O floor\n(cat x2)"
    return tool["label"].replace("shuf-big ", "").replace(" (--mem", "\n(--mem")


def write_chart(path: Path, data: dict) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing, so no chart: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return False
    profiles = list(data["profiles"])
    fig, axes = plt.subplots(1, len(profiles), figsize=(4.6 * len(profiles), 5.0), squeeze=False)
    handles: dict[str, object] = {}
    for ax, profile in zip(axes[0], profiles, strict=True):
        res = data["profiles"][profile]
        r = res["ratios"]
        tools = {k: t for k, t in res["tools"].items() if t["kind"] in CHART_COLORS}
        values = [t["summary"].get("wall_median_s", 0.0) for t in tools.values()]
        colors = [
            "tab:cyan" if t["kind"] == "external" and t["jobs"] != 1 else CHART_COLORS[t["kind"]]
            for t in tools.values()
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
        c = res["corpus"]
        ax.set_title(
            f"{profile}: {format_size(c['bytes'])}, {c['bytes_per_line']:.0f} B/line\n"
            f"targets: external {r['external_vs_floor_target']}x floor, "
            f"in memory {r['inmem_vs_shuf_target']}x GNU shuf",
            fontsize=9,
        )
        ax.set_ylabel("median wall time, s")
        ax.set_ylim(0, top * 1.12)
    names = {
        "floor": "two-pass I/O floor",
        "external": "external target (x floor)",
        "inmem": "in-memory target (x GNU shuf)",
    }
    fig.legend(
        [handles[k] for k in names if k in handles],
        [names[k] for k in names if k in handles],
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    m = data["machine"]
    fig.suptitle(
        f"shuf-big (external: --mem {data['config']['external_mem']}) against GNU shuf and the I/O floor; "
        f"median of {data['config']['rounds']} round(s), {m['cores_usable']} cores, {m['date'][:10]}. "
        "sort -R: see results.md",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_all(out_dir: Path, data: dict) -> None:
    """Write the three files; the chart in a child process (matplotlib is big, and the
    caller measures other processes' memory against its own)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    write_markdown(out_dir / "results.md", data)
    subprocess.run([sys.executable, str(Path(__file__).resolve()), str(out_dir / "results.json"), "--chart-only"])


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
