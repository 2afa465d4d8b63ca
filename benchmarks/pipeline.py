"""The corpus pipeline case: sharded and compressed inputs and outputs, as a training-data
pipeline meets them.  run.py runs it after the profiles (``--pipeline PROFILE``, default
docs; ``--pipeline none`` skips it).

The inputs are the profile's corpus and the same bytes cut at line ends into K shards
(``--pipeline-shards``, default 8), plain and ``gzip -6``, built once in
``DATA_DIR/pipeline-PROFILE-K/`` and reused while the corpus is unchanged.  The runs, all
``shuf-big --mem MEM -T TMP --seed S`` with the default ``-j``, alternate for ``--rounds``
rounds:

* ``single``: the corpus into one file; ``sharded``: the corpus into ``--shards K`` files;
* ``plain``: K plain shards into K plain shards;
* ``gz_gz``: K ``.gz`` shards into K ``.gz`` shards;
* ``gz_zst``: K ``.gz`` shards into K ``.zst`` shards (when shuf-big's Python has zstandard).

All of them hold the same records in the same order, so with one seed every output,
decompressed and concatenated in shard order, must be the same bytes: the first round
checks that with a BLAKE2b digest of each, later rounds check the outputs' sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.commands import SEED, cpu_count, log, round_order
from benchmarks.digests import can_decompress, stream_digest
from benchmarks.measure import Measurement, fresh_work, measure, settle
from benchmarks.summary import met, ratio, summarize
from benchmarks.units import MiB

META_VERSION = 1
# Ceilings (issue 14): a sharded output costs at most 10% over one file; compressed shards
# in and out run within these multiples of plain shards in and out.
TARGETS = {"sharded_vs_single": 1.10, "gz_gz_vs_plain": 1.5, "gz_zst_vs_plain": 1.3}
RUNS = {
    "single": "corpus -> one file",
    "sharded": "corpus -> --shards K",
    "plain": "K plain shards -> K plain shards",
    "gz_gz": "K .gz shards -> K .gz shards",
    "gz_zst": "K .gz shards -> K .zst shards",
}


# -- the inputs -------------------------------------------------------------------------------


def cut_points(path: Path, shards: int) -> list[int]:
    """Byte offsets of the shard boundaries: just after the first newline at or past ``i/K`` of the file."""
    size = path.stat().st_size
    points = [0]
    with path.open("rb") as f:
        for i in range(1, shards):
            at = max(size * i // shards, points[-1])
            f.seek(at)
            while True:
                block = f.read(MiB)
                hit = block.find(b"\n")
                if hit >= 0 or not block:
                    at = at + hit + 1 if hit >= 0 else size
                    break
                at += len(block)
            points.append(min(at, size))
    return [*points, size]


def copy_range(src: int, dst: int, start: int, count: int) -> None:
    while count > 0:
        done = os.copy_file_range(src, dst, count, start)
        if done == 0:
            raise OSError(f"unexpected end of input at byte {start}")
        start += done
        count -= done


def build_inputs(corpus_path: Path, folder: Path, shards: int) -> dict[str, Any]:
    """K plain and K gzip shards of the corpus in ``folder`` (kept while the corpus is unchanged)."""
    st = corpus_path.stat()
    want = {"version": META_VERSION, "source": str(corpus_path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    want["shards"] = shards
    meta_path = folder / "pipeline.meta.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(meta_path.read_text()) == want:
            return want
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"[pipeline] cutting {corpus_path.name} into {shards} shards and compressing them with gzip -6 ...")
    points = cut_points(corpus_path, shards)
    with corpus_path.open("rb") as src:
        for i in range(shards):
            with (folder / shard_name(i, "")).open("wb") as dst:
                copy_range(src.fileno(), dst.fileno(), points[i], points[i + 1] - points[i])
    pending = list(range(shards))
    running: list[subprocess.Popen] = []
    width = cpu_count()
    while pending or running:
        while pending and len(running) < width:
            i = pending.pop(0)
            argv = ["gzip", "-6", "-n", "-c", str(folder / shard_name(i, ""))]
            with (folder / shard_name(i, ".gz")).open("wb") as out:
                running.append(subprocess.Popen(argv, stdout=out))
        if running.pop(0).wait() != 0:
            raise SystemExit("run.py: gzip failed while building the pipeline inputs")
    meta_path.write_text(json.dumps(want) + "\n")
    return want


def shard_name(i: int, suffix: str) -> str:
    return f"in-{i:02d}.jsonl{suffix}"


# -- the runs -----------------------------------------------------------------------------------


Runs = dict[str, tuple[list[str], list[Path]]]


def plan(corpus_path: Path, folder: Path, out: Path, shards: int, zstd: bool) -> Runs:
    """Per run: the arguments after the common ones, and the output files in order."""
    plain_in = [str(folder / shard_name(i, "")) for i in range(shards)]
    gz_in = [str(folder / shard_name(i, ".gz")) for i in range(shards)]

    def sharded(suffix: str) -> tuple[list[str], list[Path]]:
        pattern = str(out / f"p-{{shard:02d}}.jsonl{suffix}")
        return ["--shards", str(shards), "-o", pattern], [out / f"p-{i:02d}.jsonl{suffix}" for i in range(shards)]

    runs: Runs = {
        "single": ([str(corpus_path), "-o", str(out / "one.jsonl")], [out / "one.jsonl"]),
    }
    args, files = sharded("")
    runs["sharded"] = ([str(corpus_path), *args], files)
    runs["plain"] = ([*plain_in, *args], files)
    args, files = sharded(".gz")
    runs["gz_gz"] = ([*gz_in, *args], files)
    if zstd:
        args, files = sharded(".zst")
        runs["gz_zst"] = ([*gz_in, *args], files)
    return runs


@dataclass
class Pass:
    """One pipeline pass's fixed parts: the runs, their commands, where they write, the input's size."""

    runs: Runs
    argv_of: dict[str, list[str]]
    work: Path
    in_bytes: int
    reference: tuple[int, str] | None = None


def run_round(r: int, p: Pass, args: argparse.Namespace, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every run once, in ``round_order``, each checked at once (before the next deletes its
    outputs); the round's records, by run."""
    records = {}
    for key in round_order(list(p.runs), r):
        fresh_work(p.work, out_dir=True)
        settle(args.sync, args.settle)
        m = measure(p.argv_of[key], p.work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=env)
        rec = records[key] = {"round": r, **check(m, p.runs[key][1], p, first=r == 1)}
        log(
            f"[pipeline {r}/{args.rounds}] {label(key, args.pipeline_shards):36s} {rec['wall_s']:8.2f} s"
            f"  cpu {rec['cpu_s']:7.2f} s  peak {rec['peak_tree_rss'] / MiB:7.1f} MiB  "
            f"{rec['status']}: {rec['check']}"
        )
    return records


def label(key: str, shards: int) -> str:
    return RUNS[key].replace("K", str(shards))


def run_pipeline(
    corpus_path: Path, args: argparse.Namespace, env: dict[str, str], sb: list[str], *, zstd: bool
) -> dict[str, Any]:
    """Build the inputs, run every case for ``args.rounds`` alternating rounds, check the outputs."""
    shards = args.pipeline_shards
    folder = args.data_dir / f"pipeline-{args.pipeline}-{shards}"
    meta = build_inputs(corpus_path, folder, shards)
    work = args.work_dir / "pipeline"
    runs = plan(corpus_path, folder, work / "out", shards, zstd)
    common = ["--mem", args.external_mem, "-T", str(work / "tmp"), "--seed", str(SEED)]
    p = Pass(runs, {key: [*sb, *extra, *common] for key, (extra, _) in runs.items()}, work, meta["bytes"])
    records: dict[str, list[dict[str, Any]]] = {key: [] for key in runs}
    try:
        for r in range(1, args.rounds + 1):
            for key, rec in run_round(r, p, args, env).items():
                records[key].append(rec)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gz_bytes = sum(f.stat().st_size for f in folder.glob("*.gz"))
    result: dict[str, Any] = {
        "profile": args.pipeline,
        "shards": shards,
        "inputs": {**meta, "folder": str(folder), "gz_bytes": gz_bytes},
        "reference_output": None if p.reference is None else {"bytes": p.reference[0], "blake2b": p.reference[1]},
        "runs": {
            key: {
                "label": label(key, shards),
                "argv": p.argv_of[key],
                "summary": summary(records[key]),
                "rounds": records[key],
            }
            for key in runs
        },
    }
    result["ratios"] = ratios(result["runs"])
    return result


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """summarize's medians, and the output's size (of the last round that did not fail)."""
    good = [r for r in rounds if r["status"] != "fail"]
    return {**summarize(rounds), **({"output_bytes": good[-1]["output_bytes"]} if good else {})}


def check_outputs(m: Measurement, files: list[Path], p: Pass, first: bool, out_bytes: int) -> tuple[str, str]:
    """(status, message): the first round digests every output (decompressed, it must be the
    input's size and the same bytes as the first one digested); later rounds check sizes."""
    failure = m.failure()
    if failure:
        return "fail", failure
    if not all(f.exists() for f in files):
        return "fail", "output files missing"
    if not first:
        plain = all(f.suffix == ".jsonl" for f in files)
        return ("ok", "size ok") if not plain or out_bytes == p.in_bytes else ("fail", "wrong size")
    if not can_decompress(files):
        return "warn", "not checked (no zstd command or module here)"
    got = stream_digest(files)
    if got[0] != p.in_bytes:
        return "fail", f"{got[0]} bytes after decompression, input {p.in_bytes}"
    if p.reference is None:
        p.reference = got
        return "ok", "digest taken (the reference)"
    if got == p.reference:
        return "ok", "same bytes as the reference, decompressed"
    return "fail", "different bytes from the other runs with the same --seed"


def check(m: Measurement, files: list[Path], p: Pass, first: bool) -> dict[str, Any]:
    """The run's record, with its status (ok, warn or fail) and check."""
    out_bytes = sum(f.stat().st_size for f in files if f.exists())
    status, message = check_outputs(m, files, p, first, out_bytes)
    leftovers = os.listdir(p.work / "tmp") if (p.work / "tmp").exists() else []
    if leftovers and status != "fail":
        status, message = "warn", f"{message}; left {len(leftovers)} temp entries"
    return {
        **m.record(),
        "output_bytes": out_bytes,
        "temp_bytes": m.temp_bytes(out_bytes),
        "status": status,
        "check": message,
        "stderr": m.stderr[-500:] if status != "ok" else "",
    }


def ratios(runs: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ratios against TARGETS, from the medians."""

    def wall(key: str) -> float | None:
        return runs[key]["summary"].get("wall_median_s") if key in runs else None

    out: dict[str, Any] = {}
    for name, (a, b) in {
        "sharded_vs_single": ("sharded", "single"),
        "gz_gz_vs_plain": ("gz_gz", "plain"),
        "gz_zst_vs_plain": ("gz_zst", "plain"),
    }.items():
        value = ratio(wall(a), wall(b))
        out[name] = value
        out[f"{name}_met"] = met(value, TARGETS[name])
    return out


# -- the report -----------------------------------------------------------------------------------


def markdown(data: dict, external_mem: str) -> list[str]:
    """The pipeline section of results.md."""
    p = data["pipeline"]
    inputs = p["inputs"]
    lines = [
        f"## Pipeline: {p['profile']} corpus, {p['shards']} shards in and out",
        "",
        f"The corpus ({inputs['bytes'] / MiB:.0f} MiB) and the same bytes cut into {p['shards']} shards at line ends, "
        f"plain and gzip -6 ({inputs['gz_bytes'] / MiB:.0f} MiB); every run is `shuf-big ... --mem {external_mem} "
        f"-T TMP --seed {SEED}` with the default -j. All outputs must be the same bytes after decompression.",
        "",
        "| run | wall s, median | wall s, min-max | CPU s | peak RSS, tree | output | check |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in p["runs"].values():
        s = run["summary"]
        if "wall_median_s" not in s:
            lines.append(f"| {run['label']} | failed | | | | | {s['status']}: {'; '.join(s['checks'])} |")
            continue
        lines.append(
            f"| {run['label']} | {s['wall_median_s']:.2f} | {s['wall_min_s']:.2f}-{s['wall_max_s']:.2f} "
            f"| {s['cpu_median_s']:.2f} | {s['peak_tree_rss_max'] / MiB:.0f} MiB | {s['output_bytes'] / MiB:.0f} MiB "
            f"| {s['status']}: {'; '.join(s['checks'])} |"
        )
    r = p["ratios"]
    lines += ["", "| ratio | value | target | met |", "|---|---:|---:|---|"]
    for name, label in (
        ("sharded_vs_single", "--shards / one output"),
        ("gz_gz_vs_plain", ".gz -> .gz / plain -> plain"),
        ("gz_zst_vs_plain", ".gz -> .zst / plain -> plain"),
    ):
        value = "n/a" if r[name] is None else f"{r[name]:.2f}x"
        met = "n/a" if r[f"{name}_met"] is None else ("yes" if r[f"{name}_met"] else "**no**")
        lines.append(f"| {label} | {value} | <= {TARGETS[name]}x | {met} |")
    return lines
