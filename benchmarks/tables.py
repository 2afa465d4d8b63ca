"""The reports of dask_bench.py and scaling.py: one header, one table layout, one way to write them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def run_header(title: str, command: str, machine: dict[str, Any], note: str) -> list[str]:
    """A report's title, and the line saying what ran where: command, date, CPU, commit."""
    return [
        f"# {title}",
        "",
        f"`{command}`, {machine['date']}, {machine['cpu_model']} ({machine['cores']} cores), "
        f"shuf-big {machine['shuf_big_git_commit']}. {note}",
        "",
    ]


def markdown_table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """A Markdown table: ``align`` is the separator row without its outer bars (``---|---:``)."""
    return ["| " + " | ".join(header) + " |", f"|{align}|", *("| " + " | ".join(row) + " |" for row in rows)]


def write_results(out: Path, name: str, machine: dict[str, Any], results: list[dict[str, Any]], md: str) -> None:
    """``NAME.json`` and ``NAME.md`` in ``out``, rewritten after every profile so that an
    interrupted run still leaves a report."""
    out.mkdir(parents=True, exist_ok=True)
    machine["load_average_end"] = os.getloadavg()
    (out / f"{name}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    (out / f"{name}.md").write_text(md)
