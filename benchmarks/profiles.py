"""Running one profile's runs for ``--rounds`` alternating rounds and checking every output.

Every output must have the input's size.  A shuf-big output must also be a permutation of
the input: the first one of each input (the corpus, the slice) is digested (line count and
order-independent digest, compared with the input's) and kept as the reference; later ones,
which use the same --seed and so must be the same bytes whatever --mem or -j, are compared
with it byte for byte, and digested only if they differ.  The references' BLAKE2b digests
go into the results, so that other benchmarks' outputs of the same corpus and seed can be
compared with them (smoke.py does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import corpus, peers
from benchmarks.commands import log, round_order
from benchmarks.digests import line_digest, same_bytes, stream_digest
from benchmarks.measure import Measurement, fresh_work, measure, settle
from benchmarks.scenarios import SHUF_BIG_KINDS, Tool, make_slice, plan_tools
from benchmarks.summary import summarize
from benchmarks.units import MiB, format_size


@dataclass
class Checks:
    """What the checks of one profile remember: the inputs' digests and the reference outputs."""

    digests: dict[Path, tuple[int, int]]
    references: dict[Path, Path] = field(default_factory=dict)
    reference_digests: dict[Path, tuple[int, str]] = field(default_factory=dict)


def check_output(tool: Tool, m: Measurement, out: Path, checks: Checks) -> tuple[str, str]:
    """(status, message), status ok, warn or fail (see the module's docstring)."""
    failure = m.failure()
    if failure:
        return "fail", failure
    if not out.exists():
        return "fail", "no output file"
    in_size = tool.input_bytes
    if out.stat().st_size != in_size:
        return "fail", f"output is {out.stat().st_size} bytes, input {in_size}"
    if tool.kind not in SHUF_BIG_KINDS:
        return "ok", "size ok"
    reference = checks.references.get(tool.input)
    if reference is not None and same_bytes(out, reference):
        return "ok", "permutation (same bytes as the checked output)"
    digest = line_digest(out)
    if digest != checks.digests[tool.input]:
        return "fail", f"NOT a permutation of the input ({digest[0]} lines; digest differs)"
    if reference is None:
        kept = out.rename(out.with_name(f"reference-{len(checks.references)}"))
        checks.references[tool.input] = kept
        checks.reference_digests[tool.input] = stream_digest([kept])
        return "ok", "permutation (line count and digest)"
    return "warn", "a permutation, but not the same bytes as the other runs with the same --seed"


def path_check(tool: Tool, temp_bytes: int | None, status: str, message: str) -> tuple[str, str]:
    """Warn when a run took the other path than meant: in-memory runs write no temp files."""
    if status != "ok" or temp_bytes is None:
        return status, message
    wrote_temp = temp_bytes > tool.input.stat().st_size / 20
    if tool.kind in ("inmem", "inmem_slice") and wrote_temp:
        return "warn", f"took the external path (wrote temp files); {message}"
    if tool.kind == "external" and not wrote_temp:
        return "warn", f"took the in-memory path (the input fits --mem); {message}"
    return status, message


def run_once(tool: Tool, round_no: int, work: Path, checks: Checks, args: argparse.Namespace, env: dict) -> dict:
    """One measured, checked run of ``tool``: its round's record."""
    fresh_work(work)
    settle(args.sync, args.settle)  # every run starts without the last one's dirty pages
    out = work / "out"
    m = measure(
        tool.argv,
        work / "stderr.txt",
        interval=args.interval,
        timeout=args.timeout,
        env={**env, **tool.extra_env},
        stdin=tool.stdin,
        stdout=tool.stdout,
    )
    leftovers = sorted(p.name for p in (work / "tmp").iterdir() if p.name != "floor.tmp")
    temp_bytes = m.temp_bytes(out.stat().st_size if out.exists() else 0)
    status, message = path_check(tool, temp_bytes, *check_output(tool, m, out, checks))
    if leftovers:
        status = "fail" if status == "fail" else "warn"
        message += f"; left {len(leftovers)} entries in the temp dir ({', '.join(leftovers[:3])})"
    return {
        "round": round_no,
        **m.record(),
        "temp_bytes": temp_bytes,
        "status": status,
        "check": message,
        "stderr": m.stderr[-500:] if status != "ok" else "",
    }


def digest_inputs(profile: str, data: Path, slice_path: Path | None, meta: dict[str, Any]) -> tuple[Checks, float]:
    """The inputs' line digests (the corpus and its slice), and the seconds the corpus's took."""
    log(f"[{profile}] checking the input: line count and digest of {format_size(meta['bytes'])} ...")
    started = time.perf_counter()
    checks = Checks({data: line_digest(data)})
    digest_s = time.perf_counter() - started
    if checks.digests[data][0] != meta["lines"]:
        log(f"[{profile}] warning: {checks.digests[data][0]} lines, its metadata says {meta['lines']}")
    if slice_path is not None and slice_path != data:
        checks.digests[slice_path] = line_digest(slice_path)
    return checks, digest_s


def run_rounds(
    profile: str, tools: list[Tool], work: Path, checks: Checks, args: argparse.Namespace, env: dict
) -> None:
    """Every tool once a round, in ``round_order``; the records go to each tool's ``rounds``."""
    for r in range(1, args.rounds + 1):
        for tool in round_order(tools, r):
            rec = run_once(tool, r, work, checks, args, env)
            tool.rounds.append(rec)
            log(
                f"[{profile} {r}/{args.rounds}] {tool.label:36s} {rec['wall_s']:8.2f} s  cpu {rec['cpu_s']:7.2f} s"
                f"  peak {rec['peak_tree_rss'] / MiB:7.1f} MiB  {rec['status']}: {rec['check']}"
            )


def tool_result(t: Tool) -> dict[str, Any]:
    return {
        "label": t.label,
        "kind": t.kind,
        "jobs": t.jobs,
        "argv": t.argv,
        "command": t.command,
        "input_bytes": t.input_bytes,
        "summary": summarize(t.rounds),
        "rounds": t.rounds,
    }


def run_profile(profile: str, meta: dict[str, Any], args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Plan, run and check one profile's runs; its part of results.json."""
    data = args.data_dir / corpus.FILES[profile]
    work = args.work_dir / profile
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    slice_path = make_slice(data, args.work_dir / f"{profile}.slice", args.slice) if args.slice else None
    checks, digest_s = digest_inputs(profile, data, slice_path, meta)
    slice_lines = checks.digests[slice_path][0] if slice_path is not None else 0
    duck_input, dropped = None, 0
    if args.duckdb:
        log(f"[{profile}] checking that the corpus is valid UTF-8 for DuckDB ...")
        duck_input, dropped = peers.utf8_copy(data, args.work_dir / f"{profile}.utf8")
    tools = plan_tools(data, slice_path, slice_lines, work, meta, args, duck_input)
    load_before = os.getloadavg()
    try:
        run_rounds(profile, tools, work, checks, args, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        slice_bytes = slice_path.stat().st_size if slice_path is not None else 0
        for copy in (slice_path, duck_input):
            if copy is not None and copy != data:
                copy.unlink(missing_ok=True)
    references = {"corpus": data, "slice": slice_path}
    return {
        "corpus": {**meta, "path": str(data), "digest_seconds": round(digest_s, 2)},
        "slice_bytes": slice_bytes,
        "slice_is_corpus": slice_path == data,
        "duckdb_input_dropped_bytes": dropped if duck_input is not None else None,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "reference_outputs": {
            name: {"bytes": checks.reference_digests[path][0], "blake2b": checks.reference_digests[path][1]}
            for name, path in references.items()
            if path in checks.reference_digests and (name == "corpus" or path != data)
        },
        "tools": {t.key: tool_result(t) for t in tools},
    }
