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

import contextlib
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MiB = 1 << 20
SEED = 12345
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


def build_inputs(corpus_path: Path, folder: Path, shards: int, log: Callable[[str], None]) -> dict:
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
    width = max(len(os.sched_getaffinity(0)), 1)
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


# -- checking outputs ---------------------------------------------------------------------------


def decompressed(path: Path) -> Iterator[bytes]:
    """The bytes of ``path``, decompressed by its name (.gz: gzip; .zst: the zstd command or module)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            while block := f.read(4 * MiB):
                yield block
    elif path.suffix == ".zst":
        if shutil.which("zstd"):
            with subprocess.Popen(["zstd", "-dcq", str(path)], stdout=subprocess.PIPE) as proc:
                assert proc.stdout is not None
                while block := proc.stdout.read(4 * MiB):
                    yield block
            if proc.returncode != 0:
                raise OSError(f"zstd -d failed on {path}")
        else:
            import zstandard

            with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as f:
                while block := f.read(4 * MiB):
                    yield block
    else:
        with path.open("rb") as f:
            while block := f.read(4 * MiB):
                yield block


def can_check(files: list[Path]) -> bool:
    zst = any(p.suffix == ".zst" for p in files)
    return not zst or shutil.which("zstd") is not None or importlib.util.find_spec("zstandard") is not None


def digest(files: list[Path]) -> tuple[int, str]:
    """(bytes, BLAKE2b hex) of the files decompressed and concatenated in order."""
    h = hashlib.blake2b(digest_size=16)
    n = 0
    for path in files:
        for block in decompressed(path):
            h.update(block)
            n += len(block)
    return n, h.hexdigest()


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


def clean(work: Path) -> None:
    for name in ("out", "tmp"):
        shutil.rmtree(work / name, ignore_errors=True)
        (work / name).mkdir(parents=True)


def run_pipeline(
    corpus_path: Path,
    args: Any,
    env: dict[str, str],
    sb: list[str],
    measure: Callable[..., Any],
    *,
    zstd: bool,
    log: Callable[[str], None],
) -> dict:
    """Build the inputs, run every case for ``args.rounds`` alternating rounds, check the outputs."""
    shards = args.pipeline_shards
    folder = args.data_dir / f"pipeline-{args.pipeline}-{shards}"
    meta = build_inputs(corpus_path, folder, shards, log)
    work = args.work_dir / "pipeline"
    runs = plan(corpus_path, folder, work / "out", shards, zstd)
    common = ["--mem", args.external_mem, "-T", str(work / "tmp"), "--seed", str(SEED)]
    records: dict[str, list[dict]] = {key: [] for key in runs}
    reference: tuple[int, str] | None = None
    keys = list(runs)
    try:
        for r in range(1, args.rounds + 1):
            shift = (r - 1) % len(keys)  # rotated, and backwards every second round (run.py)
            order = keys[shift:] + keys[:shift]
            for key in order if r % 2 else order[::-1]:
                extra, files = runs[key]
                clean(work)
                if args.sync:
                    os.sync()
                time.sleep(args.settle)
                argv = [*sb, *extra, *common]
                m = measure(argv, work / "stderr.txt", interval=args.interval, timeout=args.timeout, env=env)
                rec, reference = check(key, m, files, work, meta["bytes"], reference, first=r == 1)
                rec["round"] = r
                records[key].append(rec)
                log(
                    f"[pipeline {r}/{args.rounds}] {RUNS[key].replace('K', str(shards)):36s} {rec['wall_s']:8.2f} s"
                    f"  cpu {rec['cpu_s']:7.2f} s  peak {rec['peak_tree_rss'] / MiB:7.1f} MiB  "
                    f"{rec['status']}: {rec['check']}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "profile": args.pipeline,
        "shards": shards,
        "inputs": {**meta, "folder": str(folder), "gz_bytes": sum(p.stat().st_size for p in folder.glob("*.gz"))},
        "runs": {
            key: {
                "label": RUNS[key].replace("K", str(shards)),
                "argv": [*sb, *runs[key][0], *common],
                "summary": summarize(records[key]),
                "rounds": records[key],
            }
            for key in runs
        },
    }
    result["ratios"] = ratios(result["runs"])
    return result


def check(
    key: str, m: Any, files: list[Path], work: Path, in_bytes: int, reference: tuple[int, str] | None, first: bool
) -> tuple[dict, tuple[int, str] | None]:
    """The run's record (status ok, warn or fail) and the reference digest (set by the first checked output)."""
    status, message = "ok", ""
    out_bytes = sum(p.stat().st_size for p in files if p.exists())
    if m.timed_out or m.exit_code != 0:
        last = m.stderr.strip().splitlines()[-1:] or ["(no message)"]
        status, message = "fail", "timed out (killed)" if m.timed_out else f"exit status {m.exit_code}: {last[0][:200]}"
    elif not all(p.exists() for p in files):
        status, message = "fail", "output files missing"
    elif not first:
        plain = all(p.suffix == ".jsonl" for p in files)
        status, message = ("ok", "size ok") if not plain or out_bytes == in_bytes else ("fail", "wrong size")
    elif not can_check(files):
        status, message = "warn", "not checked (no zstd command or module here)"
    else:
        got = digest(files)
        if got[0] != in_bytes:
            status, message = "fail", f"{got[0]} bytes after decompression, input {in_bytes}"
        elif reference is None:
            reference, message = got, "digest taken (the reference)"
        elif got == reference:
            message = "same bytes as the reference, decompressed"
        else:
            status, message = "fail", "different bytes from the other runs with the same --seed"
    leftovers = os.listdir(work / "tmp") if (work / "tmp").exists() else []
    if leftovers and status != "fail":
        status, message = "warn", f"{message}; left {len(leftovers)} temp entries"
    io = m.io or {}
    return {
        "wall_s": round(m.wall_s, 4),
        "cpu_s": round(m.cpu_s, 4),
        "peak_tree_rss": m.peak_tree_rss,
        "largest_process_rss": m.largest_process,
        "output_bytes": out_bytes,
        "temp_bytes": max(io["write_bytes"] - out_bytes, 0) if "write_bytes" in io else None,
        "exit_code": m.exit_code,
        "status": status,
        "check": message,
        "stderr": m.stderr[-500:] if status != "ok" else "",
    }, reference


def summarize(rounds: list[dict]) -> dict:
    good = [r for r in rounds if r["status"] != "fail"]
    statuses = {r["status"] for r in rounds}
    summary: dict = {
        "status": "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok",
        "checks": sorted({r["check"] for r in rounds}),
    }
    if good:
        walls = [r["wall_s"] for r in good]
        summary.update(
            wall_median_s=statistics.median(walls),
            wall_min_s=min(walls),
            wall_max_s=max(walls),
            cpu_median_s=statistics.median(r["cpu_s"] for r in good),
            peak_tree_rss_max=max(r["peak_tree_rss"] for r in good),
            output_bytes=good[-1]["output_bytes"],
        )
    return summary


def ratios(runs: dict) -> dict:
    def wall(key: str) -> float | None:
        return runs[key]["summary"].get("wall_median_s") if key in runs else None

    out = {}
    for name, (a, b) in {
        "sharded_vs_single": ("sharded", "single"),
        "gz_gz_vs_plain": ("gz_gz", "plain"),
        "gz_zst_vs_plain": ("gz_zst", "plain"),
    }.items():
        wa, wb = wall(a), wall(b)
        value = wa / wb if wa is not None and wb else None
        out[name] = value
        out[f"{name}_met"] = None if value is None else value <= TARGETS[name]
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
