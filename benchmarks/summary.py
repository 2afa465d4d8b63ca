"""Summing up rounds: medians per run, and the ratios the project targets (issue 14)."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.commands import cpu_count
from benchmarks.units import MiB

# The project's targets (DESIGN-NOTES section 1, issue 14): ratio ceilings per profile.
TARGET_EXTERNAL_VS_FLOOR = {"words": 5.0, "sentences": 4.0, "docs": 2.0}
TARGET_EXTERNAL_VS_TERASHUF = 0.40  # at least 2.5x faster than terashuf at the same memory
TARGET_INMEM_VS_SHUF = {"words": 0.5, "sentences": 0.5, "docs": 0.6}
# Inputs up to SMALL_INPUT bytes (the 200M slice, or --size 200M) have one in-memory target:
# there start-up is a large share of the time.
TARGET_INMEM_VS_SHUF_SMALL = 0.7
SMALL_INPUT = 256 * MiB
TARGET_RSS_OVER_BUDGET = 64 * MiB  # peak RSS target: the external run's --mem plus this


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None when either is missing (a run failed or did not run)."""
    return a / b if a is not None and b else None


def met(value: float | None, target: float) -> bool | None:
    """Whether a ratio is within its ceiling, None when there is no ratio."""
    return None if value is None else value <= target


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds that did not fail (peaks: the maximum)."""
    good = [r for r in rounds if r["status"] != "fail"]
    statuses = {r["status"] for r in rounds}
    summary: dict[str, Any] = {
        "status": "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok",
        "rounds_ok": len(good),
        "checks": sorted({r["check"] for r in rounds}),
    }
    if not good:
        return summary
    walls = [r["wall_s"] for r in good]
    temps = [r["temp_bytes"] for r in good if r["temp_bytes"] is not None]
    return {
        **summary,
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "cpu_median_s": statistics.median(r["cpu_s"] for r in good),
        "user_median_s": statistics.median(r["user_s"] for r in good),
        "sys_median_s": statistics.median(r["sys_s"] for r in good),
        "peak_tree_rss_max": max(r["peak_tree_rss"] for r in good),
        "largest_process_rss_max": max((r["largest_process_rss"] or 0 for r in good), default=0) or None,
        "temp_bytes_median": statistics.median(temps) if temps else None,
    }


def ratios(profile: str, result: dict[str, Any], peak_target: int) -> dict[str, Any]:
    """The figures the project targets, from the medians."""
    tools = result["tools"]

    def wall(key: str | None) -> float | None:
        return tools[key]["summary"].get("wall_median_s") if key in tools else None

    externals = {t["jobs"]: key for key, t in tools.items() if t["kind"] == "external"}
    headline = externals.get(cpu_count()) or (externals[max(externals)] if externals else None)
    peaks = [tools[k]["summary"].get("peak_tree_rss_max") for k in externals.values()]
    peak = max((p for p in peaks if p is not None), default=None)
    ext_floor = ratio(wall(headline), wall("floor"))
    inmem_shuf = ratio(wall("in_memory"), wall("gnu_shuf"))
    small = result["corpus"]["bytes"] <= SMALL_INPUT
    inmem_target = TARGET_INMEM_VS_SHUF_SMALL if small else TARGET_INMEM_VS_SHUF[profile]
    # The small-input figures: the slice's runs, or the corpus's own when it is no larger.
    slice_shuf = "gnu_shuf" if result.get("slice_is_corpus") else "gnu_shuf_slice"
    slice_inmem = "in_memory" if result.get("slice_is_corpus") else "in_memory_slice"
    small_ratio = ratio(wall(slice_inmem), wall(slice_shuf))
    ext_tera = ratio(wall(headline), wall("terashuf"))
    return {
        "external_key": headline,
        "external_vs_floor": ext_floor,
        "external_vs_floor_target": TARGET_EXTERNAL_VS_FLOOR[profile],
        "external_vs_floor_met": met(ext_floor, TARGET_EXTERNAL_VS_FLOOR[profile]),
        "inmem_vs_shuf": inmem_shuf,
        "inmem_vs_shuf_target": inmem_target,
        "inmem_vs_shuf_met": met(inmem_shuf, inmem_target),
        "external_vs_terashuf": ext_tera,
        "external_vs_terashuf_target": TARGET_EXTERNAL_VS_TERASHUF,
        "external_vs_terashuf_met": met(ext_tera, TARGET_EXTERNAL_VS_TERASHUF),
        "duckdb_vs_external": ratio(wall("duckdb"), wall(headline)),
        "slice_inmem_key": slice_inmem if slice_inmem in tools else None,
        "slice_shuf_key": slice_shuf if slice_shuf in tools else None,
        "slice_inmem_vs_shuf": small_ratio,
        "slice_inmem_vs_shuf_target": TARGET_INMEM_VS_SHUF_SMALL,
        "slice_inmem_vs_shuf_met": met(small_ratio, TARGET_INMEM_VS_SHUF_SMALL),
        "slice_terashuf_vs_shuf": ratio(
            wall("terashuf" if result.get("slice_is_corpus") else "terashuf_slice"), wall(slice_shuf)
        ),
        "external_peak_tree_rss": peak,
        "external_peak_tree_rss_target": peak_target,
        "external_peak_tree_rss_met": met(peak, peak_target),
        "j1_vs_j2": ratio(wall("external_j1"), wall("external_j2")),
        "sort_r_slice_vs_shuf_slice": ratio(wall("sort_r_slice"), wall(slice_shuf)),
    }
