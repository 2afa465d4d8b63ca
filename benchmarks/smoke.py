"""The benchmark suite's smoke run: every scenario once on tiny corpora, every output checked.

    python -m benchmarks.smoke          # about 30 s on 2 cores; exit status 1 if anything is wrong

CI runs it (.ci/run) so that the benchmarks cannot rot unseen.  It starts each benchmark
command as ``python -m benchmarks.MODULE`` on 2 MiB corpora of synthetic text (no apt
packages, no root, no network, no matplotlib), in a temporary directory:

* ``run``: the floor, shuf-big external (``--mem 1M``, every ``-j``) and in memory, GNU shuf,
  ``sort -R``, the slice runs, terashuf and DuckDB when they are here, and the pipeline
  (3 plain, ``.gz`` and ``.zst`` shards); then ``report`` redraws its results.md;
* ``dask_bench`` with LocalClusters of 1 and 2 workers, when ``distributed`` is importable;
* ``temp_bench`` on 2 MiB of sentences (every ``--compress-temp`` mode, GNU sort plain and zstd);
* ``storage_bench`` on 3 objects in and 2 shards out, when ``moto_server`` and s3fs are here;
* ``scaling`` at 1M and 2M, and ``bigrun`` on 3 MiB.

Then it checks what they wrote: every run succeeded; every shuf-big output is a permutation
of its input and, for one seed, the same bytes whatever ``--mem``, ``-j``, engine, sharding
or compression (the BLAKE2b digests of run.py's, the pipeline's and dask_bench's outputs of
the docs corpus must agree); every peer's output has its input's size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import peers
from benchmarks.commands import cpu_count, log

SIZE = "2M"
RUN_ARGS = ["--size", SIZE, "--rounds", "1", "--external-mem", "1M", "--slice", "512K", "--pipeline", "docs"]
RUN_ARGS += ["--pipeline-shards", "3", "--duckdb-mem", "64M", "--no-chart"]
DASK_ARGS = ["--size", SIZE, "--profiles", "docs", "--workers", "1,2", "--rounds", "1", "--mem", "1M"]
SCALING_ARGS = ["--sizes", "1M,2M", "--profiles", "sentences", "--rounds", "1", "--mem", "512K"]
BIGRUN_ARGS = ["--size", "3M", "--mem", "1M"]
TEMP_ARGS = ["--sizes", SIZE, "--profiles", "sentences", "--mem", "1M", "--rounds", "1"]
STORAGE_ARGS = ["--size", SIZE, "--objects", "3", "--shards", "2", "--mem", "1M", "--rounds", "1"]
PROFILES = ("words", "sentences", "docs")


class Smoke:
    """The stages run so far and the problems found; a stage's log is shown when it goes wrong."""

    def __init__(self, work: Path, shuf_big: str | None) -> None:
        self.work = work
        self.results = work / "results"
        self.shuf_big = ["--shuf-big", shuf_big] if shuf_big else []
        self.problems: list[str] = []

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def stage(self, module: str, args: list[str]) -> bool:
        """Run ``python -m benchmarks.MODULE ARGS``; its output goes to a log, shown if it fails."""
        log_path = self.work / f"{module}.log"
        argv = [sys.executable, "-m", f"benchmarks.{module}", *args]
        started = time.perf_counter()
        with log_path.open("w") as out:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
        log(f"smoke: {module:10s} exit {code} in {time.perf_counter() - started:5.1f} s")
        if not self.expect(code == 0, f"{module} exited with status {code}"):
            log("\n".join(log_path.read_text(errors="replace").splitlines()[-40:]))
        return code == 0

    def json(self, name: str) -> Any:
        return json.loads((self.results / name).read_text())


def expected_tools() -> set[str]:
    """The runs run.py must have planned here: the peers only when they are installed."""
    keys = {"floor", "in_memory", "gnu_shuf", "sort_r_slice", "gnu_shuf_slice", "in_memory_slice"}
    keys |= {f"external_j{j}" for j in {1, 2, cpu_count()}}
    if peers.find_terashuf(None):
        keys |= {"terashuf", "terashuf_slice"}
    if peers.duckdb_version():
        keys.add("duckdb")
    return keys


def check_profiles(smoke: Smoke, data: dict[str, Any]) -> None:
    """Every run ok; shuf-big's outputs permutations, the same bytes for the seed across -j and --mem."""
    for profile in PROFILES:
        result = data["profiles"].get(profile)
        if not smoke.expect(result is not None, f"run: no results for {profile}"):
            continue
        tools = result["tools"]
        missing = expected_tools() - set(tools)
        smoke.expect(not missing, f"run {profile}: runs missing: {', '.join(sorted(missing))}")
        for key, tool in tools.items():
            summary = tool["summary"]
            checks = "; ".join(summary["checks"])
            ok = smoke.expect(summary["status"] == "ok", f"run {profile} {key}: {summary['status']}: {checks}")
            if ok and tool["kind"] in ("external", "inmem", "inmem_slice"):
                smoke.expect(checks.startswith("permutation"), f"run {profile} {key}: not checked: {checks}")
        smoke.expect("corpus" in result["reference_outputs"], f"run {profile}: no reference output digest")


def check_pipeline(smoke: Smoke, data: dict[str, Any], zstd: bool) -> None:
    """Every sharded and compressed run ok, and its bytes those of run.py's docs outputs."""
    pipeline: dict[str, Any] = data.get("pipeline") or {}
    if not smoke.expect(bool(pipeline), "run: no pipeline results"):
        return
    want = {"single", "sharded", "plain", "gz_gz", *(["gz_zst"] if zstd else [])}
    missing = want - set(pipeline["runs"])
    smoke.expect(not missing, f"pipeline: runs missing: {', '.join(sorted(missing))}")
    for key, run in pipeline["runs"].items():
        summary = run["summary"]
        smoke.expect(summary["status"] == "ok", f"pipeline {key}: {summary['status']}: {'; '.join(summary['checks'])}")
    docs = data["profiles"].get("docs", {}).get("reference_outputs", {}).get("corpus")
    same = pipeline["reference_output"] == docs and docs is not None
    smoke.expect(same, "pipeline: its outputs are not the same bytes as run.py's docs outputs with the same seed")


def check_dask(smoke: Smoke, docs: dict[str, Any] | None) -> None:
    """Every Dask output the local engine's bytes, and those the same as run.py's docs outputs."""
    for result in smoke.json("dask.json")["results"]:
        for row in result["rows"]:
            smoke.expect(row["ok"], f"dask_bench {result['profile']} {row['run']}: failed or not the local bytes")
        same = result["reference_output"] == docs and docs is not None
        smoke.expect(same, "dask_bench: the local engine's output differs from run.py's docs outputs (same seed)")


def check_scaling_and_bigrun(smoke: Smoke) -> None:
    for result in smoke.json("scaling.json")["results"]:
        for row in result["rows"]:
            smoke.expect(row["all_ok"], f"scaling {result['profile']} {row['size']}: not a permutation or leftovers")
    verdict = smoke.json("bigrun.json")["verdict"]
    smoke.expect(verdict == "permutation", f"bigrun: {verdict}")


def check_storage(smoke: Smoke) -> None:
    for result in smoke.json("storage.json")["results"]:
        for row in result["rows"]:
            smoke.expect(row["ok"], f"storage_bench {row['run']}: failed, not the local bytes, or left uploads")


def check_temp(smoke: Smoke) -> None:
    for result in smoke.json("temp.json")["results"]:
        for name, row in result["rows"].items():
            smoke.expect(row["ok"], f"temp_bench {name}: failed, not a permutation, or temp files left")
        smoke.expect(result["rows"]["always"]["compressed"], "temp_bench: always did not compress")
        smoke.expect(not result["rows"]["auto"]["compressed"], "temp_bench: auto compressed with ample space")


def moto_found() -> bool:
    return (Path(sys.executable).parent / "moto_server").exists() or shutil.which("moto_server") is not None


def run_stages(smoke: Smoke) -> None:
    """Every benchmark command, then the checks of what each wrote."""
    common = [*smoke.shuf_big, "--text", "synthetic", "--data-dir", str(smoke.work / "data")]
    common += ["--out", str(smoke.results), "--no-sync"]
    if smoke.stage("run", [*RUN_ARGS, *common]):
        data = smoke.json("results.json")
        zstd = data["machine"]["zstandard"] not in ("", "unknown")
        check_profiles(smoke, data)
        check_pipeline(smoke, data, zstd)
        written = (smoke.results / "results.md").read_text()
        if smoke.stage("report", [str(smoke.results / "results.json")]):
            redrawn = (smoke.results / "results.md").read_text()
            smoke.expect(redrawn == written, "report: results.md redrawn from results.json differs")
        docs = data["profiles"].get("docs", {}).get("reference_outputs", {}).get("corpus")
        if importlib.util.find_spec("distributed") is None:
            log("smoke: dask_bench skipped (distributed is not installed)")
        elif smoke.stage("dask_bench", [*DASK_ARGS, *common]):
            check_dask(smoke, docs)
    if smoke.stage("temp_bench", [*TEMP_ARGS, *common]):
        check_temp(smoke)
    if not moto_found() or importlib.util.find_spec("s3fs") is None:
        log("smoke: storage_bench skipped (moto_server or s3fs is not installed)")
    elif smoke.stage("storage_bench", [*STORAGE_ARGS, *common]):
        check_storage(smoke)
    scaling = smoke.stage("scaling", [*SCALING_ARGS, *common])
    bigrun_args = [*BIGRUN_ARGS, *smoke.shuf_big, "--work", str(smoke.work / "bigrun")]
    if smoke.stage("bigrun", [*bigrun_args, "--json", str(smoke.results / "bigrun.json")]) and scaling:
        check_scaling_and_bigrun(smoke)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, help="where corpora, outputs and results go [a new temp dir]")
    parser.add_argument("--shuf-big", help="command that runs shuf-big [shuf-big beside this Python, else PATH]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (its logs and results)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="shuf-big-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    smoke = Smoke(work.resolve(), args.shuf_big)
    try:
        run_stages(smoke)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for problem in smoke.problems:
        log(f"smoke: FAIL: {problem}")
    verdict = f"{len(smoke.problems)} problem(s)" if smoke.problems else "all outputs checked, all ok"
    log(f"smoke: {verdict} in {time.perf_counter() - started:.1f} s" + (f"; kept {work}" if args.keep else ""))
    sys.exit(1 if smoke.problems else 0)


if __name__ == "__main__":
    main()
