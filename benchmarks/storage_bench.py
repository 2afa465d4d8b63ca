"""Object storage: shuffling bucket to bucket against what a user does today, and local files.

    python -m benchmarks.storage_bench --size 1G --objects 8 --shards 8 --mem 256M

The sentences corpus is cut at line ends into ``--objects`` objects in a bucket of an S3
server on this machine (s3server.py: moto, on 127.0.0.1).  Each round runs, alternating:

* ``direct``: ``shuf-big 's3://bench/in/part-*.txt' --shards K -o 's3://bench/direct/...'``;
* ``download+shuffle+upload``: s3fs's ``get`` of the objects, ``shuf-big`` on those local
  files, s3fs's ``put`` of its shards (three commands, measured one by one and summed);
* ``local``: ``shuf-big`` on the same objects as local files, shards written locally.

Every run has the same ``--mem``, ``--seed`` and ``-T``; the direct run's shards, fetched
afterwards, must be the local run's bytes, and no multipart upload may be left in the bucket.
Wall and CPU time and the process tree's peak RSS are measured as in run.py; the server's
CPU seconds over each run are reported beside them (it shares the cores with the run).
MB/s: object bytes read (in) and written (out) over the wall time of the step that moved
them.  Writes ``storage.md`` and ``storage.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.commands import (
    SEED,
    add_common_options,
    log,
    machine_info,
    require_psutil,
    round_order,
    shuf_big_command,
)
from benchmarks.digests import stream_digest
from benchmarks.measure import fresh_work, measure, settle
from benchmarks.s3server import S3Server, incomplete_uploads
from benchmarks.tables import markdown_table, run_header, write_results
from benchmarks.units import MiB, parse_size

BUCKET = "bench"
RUNS = ("direct", "download+shuffle+upload", "local")
# The targets: the direct run against the two others.
TARGETS = {"download+shuffle+upload": 0.9, "local": 1.3}


def cut_objects(src: Path, folder: Path, objects: int) -> list[Path]:
    """``src`` cut at line ends into ``objects`` files of near-equal size in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    bounds = [0]
    for i in range(1, objects):
        at = data.find(b"\n", len(data) * i // objects)
        bounds.append(len(data) if at < 0 else at + 1)
    bounds.append(len(data))
    paths = [folder / f"part-{i:02d}.txt" for i in range(objects)]
    for path, start, end in zip(paths, bounds, bounds[1:], strict=False):
        path.write_bytes(data[start:end])
    return paths


class Bench:
    """One benchmark: the server, the local objects, the commands of every run."""

    def __init__(self, args: argparse.Namespace, server: S3Server, parts: list[Path]) -> None:
        self.args = args
        self.server = server
        self.parts = parts
        self.bytes = sum(p.stat().st_size for p in parts)
        self.sb = shuf_big_command(args.shuf_big)
        self.work: Path = args.work_dir
        self.pattern = "train-{shard:02d}.txt"

    def shuffle(self, inputs: list[str], out: str) -> list[str]:
        """The one shuf-big command of every run, its inputs and outputs aside."""
        a = self.args
        common = ["--mem", a.mem, "--seed", str(SEED), "--shards", str(a.shards), "-T", str(self.work / "tmp")]
        return [*self.sb, *common, "-o", f"{out}/{self.pattern}", *inputs]

    def step(self, name: str, argv: list[str]) -> dict[str, Any]:
        """One measured command, and the server's CPU seconds while it ran."""
        settle(self.args.sync, self.args.settle)
        before = self.server.cpu_s()
        m = measure(argv, self.work / f"{name}.stderr", interval=self.args.interval, timeout=self.args.timeout,
                    env=self.server.env())  # fmt: skip
        record = {**m.record(), "server_cpu_s": round(self.server.cpu_s() - before, 3)}
        if m.failure():
            record["failure"] = m.failure()
        return record

    def steps(self, name: str) -> list[dict[str, Any]]:
        """The measured commands of run ``name``."""
        s3, work = f"s3://{BUCKET}", self.work
        local_parts = [str(p) for p in self.parts]
        if name == "direct":
            return [self.step("direct", self.shuffle([f"{s3}/in/part-*.txt"], f"{s3}/direct"))]
        if name == "local":
            return [self.step("local", self.shuffle(local_parts, str(work / "out")))]
        transfer = [sys.executable, "-m", "benchmarks.s3server"]
        down = self.step("download", [*transfer, "get", *[f"{s3}/in/{p.name}" for p in self.parts], str(work / "dl")])
        shuffled = self.step(
            "shuffle", self.shuffle([str(work / "dl" / p.name) for p in self.parts], str(work / "out"))
        )
        shards = sorted(str(p) for p in (work / "out").iterdir())
        up = self.step("upload", [*transfer, "put", *shards, f"{s3}/baseline"])
        return [down, shuffled, up]

    def outputs(self, name: str) -> list[Path]:
        """Run ``name``'s shards as local files (the direct run's fetched from the bucket)."""
        if name != "direct":
            return sorted((self.work / "out").iterdir())
        fetched = self.work / "fetched"
        shutil.rmtree(fetched, ignore_errors=True)
        self.server.filesystem().get(f"{BUCKET}/direct/", str(fetched) + "/", recursive=True)
        return sorted(fetched.iterdir())

    def run(self, name: str, reference: tuple[int, str] | None) -> tuple[dict[str, Any], tuple[int, str]]:
        """Run ``name`` once from a clean bucket and work folder: its record and output digest."""
        fs = self.server.filesystem()
        for prefix in ("direct", "baseline"):
            if fs.exists(f"{BUCKET}/{prefix}"):
                fs.rm(f"{BUCKET}/{prefix}", recursive=True)
        fresh_work(self.work, out_dir=True)
        shutil.rmtree(self.work / "dl", ignore_errors=True)
        steps = self.steps(name)
        digest = stream_digest(self.outputs(name))
        record = summed(steps, self.bytes)
        record["steps"] = steps
        record["same_bytes_as_local"] = reference is None or digest == reference
        record["incomplete_uploads"] = incomplete_uploads(fs, BUCKET)
        record["leftovers"] = len(list((self.work / "tmp").iterdir()))
        return record, digest


def summed(steps: list[dict[str, Any]], nbytes: int) -> dict[str, Any]:
    """A run's figures from its steps: times added, the largest peak; MB/s in and out of the
    download and upload steps where there are such (the direct run's are set by the caller)."""
    record: dict[str, Any] = {key: round(sum(s[key] for s in steps), 3) for key in ("wall_s", "cpu_s", "server_cpu_s")}
    record["peak_tree_rss"] = max(s["peak_tree_rss"] for s in steps)
    record["ok"] = all(s["exit_code"] == 0 for s in steps)
    moving = len(steps) == 3  # download, shuffle, upload
    record["mb_s_in"] = round(nbytes / 1e6 / steps[0]["wall_s"], 1) if moving else None
    record["mb_s_out"] = round(nbytes / 1e6 / steps[2]["wall_s"], 1) if moving else None
    return record


def run_all(bench: Bench, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Every run for ``rounds`` alternating rounds; the local run's digest is the reference."""
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    reference: tuple[int, str] | None = None
    for r in range(1, rounds + 1):
        order = round_order(list(RUNS), r)
        if reference is None:  # the reference first
            order = ["local", *[n for n in order if n != "local"]]
        for name in order:
            record, digest = bench.run(name, reference if name != "local" else None)
            if name == "local":
                reference = reference or digest
                record["same_bytes_as_local"] = digest == reference
            if name == "direct":  # in and out overlap: both over the whole run
                record["mb_s_in"] = record["mb_s_out"] = round(bench.bytes / 1e6 / record["wall_s"], 1)
            records[name].append(record)
            log(f"storage {name} round {r}: {record['wall_s']:.1f} s, {record['peak_tree_rss'] / MiB:.0f} MiB")
    return records


def row(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's medians over the rounds, and whether every round was right."""

    def median(key: str) -> float | None:
        values = [x[key] for x in rounds if x.get(key) is not None]
        return statistics.median(values) if values else None

    ok = all(
        x["ok"] and x["same_bytes_as_local"] and not x["incomplete_uploads"] and not x["leftovers"] for x in rounds
    )
    figures = {key: median(key) for key in ("wall_s", "cpu_s", "server_cpu_s", "mb_s_in", "mb_s_out")}
    return {"run": name, **figures, "peak_tree_rss": max(x["peak_tree_rss"] for x in rounds), "ok": ok}


def markdown(result: dict[str, Any], machine: dict[str, Any], args: argparse.Namespace) -> str:
    """storage.md: one row per run, then the direct run's ratios against the targets."""
    lines = run_header(
        "Object storage: bucket to bucket",
        f"python -m benchmarks.storage_bench --size {args.size} --objects {args.objects} --shards {args.shards} "
        f"--mem {args.mem} --rounds {args.rounds}",
        machine,
        "Medians of alternating rounds on moto's S3 server (127.0.0.1, same cores); `server CPU s` is its "
        "CPU time over the run; `ok` = every round exit 0, the local run's bytes, no upload or temp file left.",
    )
    rows, walls = [], {}
    for r in result["rows"]:
        walls[r["run"]] = r["wall_s"]
        mbs = [f"{r[k]:.0f}" if r[k] is not None else "-" for k in ("mb_s_in", "mb_s_out")]
        peak = f"{r['peak_tree_rss'] / MiB:.0f} MiB"
        rows.append([r["run"], f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}", f"{r['server_cpu_s']:.1f}", peak, *mbs,
                     "yes" if r["ok"] else "NO"])  # fmt: skip
    header = ["run", "wall s", "CPU s", "server CPU s", "peak tree RSS", "MB/s in", "MB/s out", "ok"]
    lines += markdown_table(header, "---|---:|---:|---:|---:|---:|---:|---", rows)
    lines += ["", "| direct against | ratio | target |", "|---|---:|---:|"]
    for other, target in TARGETS.items():
        ratio = walls["direct"] / walls[other]
        lines.append(f"| {other} | {ratio:.2f}x | ≤ {target}x ({'met' if ratio <= target else 'missed'}) |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="bytes of the sentences corpus [1G]")
    parser.add_argument("--objects", type=int, default=8, help="input objects [8]")
    parser.add_argument("--shards", type=int, default=8, help="output shards [8]")
    parser.add_argument("--mem", default="256M", help="--mem of every run [256M]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds [3]")
    add_common_options(parser, timeout=3600, data_help="the corpus goes in DATA_DIR/storage-SIZE")
    args = parser.parse_args(argv)
    require_psutil(parser)
    args.work_dir = (args.data_dir / "storage-run").resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    data_dir = args.data_dir / f"storage-{args.size}"
    meta = corpus.build("sentences", data_dir, parse_size(args.size), text=args.text)
    parts = cut_objects(data_dir / corpus.FILES["sentences"], data_dir / "objects", args.objects)
    machine = machine_info(shuf_big_command(args.shuf_big), args.data_dir)
    with S3Server(args.work_dir / "moto.log") as server:
        fs = server.filesystem()
        fs.mkdir(BUCKET)
        fs.put([str(p) for p in parts], f"{BUCKET}/in/")
        bench = Bench(args, server, parts)
        records = run_all(bench, args.rounds)
    result = {"corpus": meta, "objects": args.objects, "bytes": bench.bytes, "rounds": records,
              "rows": [row(name, records[name]) for name in RUNS]}  # fmt: skip
    write_results(args.out, "storage", machine, [result], markdown(result, machine, args))
    shutil.rmtree(args.work_dir, ignore_errors=True)
    print((args.out / "storage.md").read_text())


if __name__ == "__main__":
    main()
