"""The shuf-big benchmark suite: real-text corpora, alternating runs, ratios against targets.

    pip install -r benchmarks/requirements.txt
    python -m benchmarks.run --size 2G

For each corpus profile (see corpus.py) it runs, for ``--rounds`` rounds, each of these
once per round (A B C ... C B A ..., the order rotated by one and reversed every second round):

* ``floor``: ``cat IN > TMP && cat TMP > OUT``, the bytes any two-pass shuffle must move;
* ``shuf-big external -j J``: ``--mem 256M -T TMPDIR --seed S -j J`` for each J of ``--jobs``;
* ``shuf-big in memory``: ``--mem`` at least 2x the input, enough for the in-memory path;
* ``GNU shuf``;
* ``terashuf`` with ``MEMORY`` = the external ``--mem``, when a binary is given or on PATH;
* ``DuckDB ORDER BY random()`` under the same memory limit, when ``duckdb`` is importable;
* on a ``--slice`` (200M) prefix of the corpus: ``sort -R -S 256M``, ``GNU shuf``, shuf-big in
  memory and terashuf (the small-input case, where start-up weighs);

and then the corpus pipeline case (pipeline.py): sharded and compressed inputs and outputs.

Each run records wall time, user+sys CPU of the process tree (``wait4``), peak resident
memory of the tree (summed VmRSS, sampled every ``--interval`` seconds; psutil finds the
descendants), the peak of the largest single process (``ru_maxrss`` where it is exact,
else the sampled VmHWM) and the bytes the tree wrote (``/proc/PID/io``).  Every shuf-big
output is checked to be a permutation of the input.  Results go to ``--out``: results.md,
results.json and chart.png (report.py).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import corpus, peers, pipeline, report

try:
    import psutil
except ImportError:  # pragma: no cover - told to the user in main()
    psutil = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MiB = 1 << 20
EXTERNAL_MEM = "256M"
SORT_MEM = "256M"
SEED = 12345
# The project's targets (DESIGN-NOTES section 1, issue 14): ratio ceilings per profile.
TARGET_EXTERNAL_VS_FLOOR = {"words": 5.0, "sentences": 4.0, "docs": 2.0}
TARGET_EXTERNAL_VS_TERASHUF = 0.40  # at least 2.5x faster than terashuf at the same memory
TARGET_INMEM_VS_SHUF = {"words": 0.5, "sentences": 0.5, "docs": 0.6}
# Inputs up to SMALL_INPUT bytes (the 200M slice, or --size 200M) have one in-memory target:
# there start-up is a large share of the time.
TARGET_INMEM_VS_SHUF_SMALL = 0.7
SMALL_INPUT = 256 * MiB
TARGET_RSS_OVER_BUDGET = 64 * MiB  # peak RSS target: the external run's --mem plus this
# Extra bytes per record granted to the in-memory run on top of 2x the input: the engine
# needs the data plus about 48 bytes of arrays per record (README, "Memory and disk") to
# take its in-memory path, which for 14-byte lines is more than 2x the input.
INMEM_BYTES_PER_RECORD = 64
INMEM_SLACK = 64 * MiB
INMEM_MAX_SHARE = 0.8  # of physical RAM; above it the in-memory run is skipped
# Free space needed in the work directory, in corpus sizes: the output, the kept reference
# output and the temp files (about 1.15x the input for 14-byte lines) at the same time.
DISK_FACTOR = 3.5


# -- running one command and measuring its process tree -------------------------------------


@dataclass
class Measurement:
    wall_s: float
    user_s: float  # wait4: the process and every descendant it reaped
    sys_s: float
    peak_tree_rss: int  # max over samples of the summed VmRSS of the tree
    largest_process: int | None  # peak RSS of the largest single process (see TreeSampler, measure)
    largest_process_source: str
    ru_maxrss: int  # wait4's figure, which is at least our own RSS when we spawned it
    spawner_rss: int  # that RSS of ours
    samples: int
    max_processes: int
    io: dict[str, int] | None  # /proc/PID/io of the root after exit: includes its reaped children
    exit_code: int
    stderr: str
    timed_out: bool = False

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def proc_status_kib(pid: int | str, *fields: str) -> list[int]:
    """Fields like VmRSS and VmHWM of /proc/PID/status in bytes; missing ones are 0."""
    values = dict.fromkeys(fields, 0)
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) * 1024
    return [values[f] for f in fields]


class TreeSampler(threading.Thread):
    """Samples the memory of a process and all its descendants every ``interval`` seconds.

    Each sample sums VmRSS over the tree (its maximum is the peak RSS of the tree) and
    keeps the largest VmHWM seen: the kernel's own peak RSS of one process since its exec,
    so it misses at most the growth in a process's last ``interval``.  Descendants are
    found with psutil every ``rescan`` samples (children() reads every /proc/PID/stat on
    the machine).  At 10 ms with a rescan every 5 samples the sampler took ~45 % of a
    core, which on 2 cores slowed the runs it measured; 50 ms and every 20 samples cost
    a few percent.
    """

    def __init__(self, pid: int, interval: float, rescan: int = 20) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.rescan = rescan
        self.stop = threading.Event()
        self.peak = 0
        self.largest = 0
        self.samples = 0
        self.max_procs = 1

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        members = [self.pid]
        while not self.stop.is_set():
            if self.samples % self.rescan == 0:
                with contextlib.suppress(psutil.Error):
                    members = [self.pid, *(k.pid for k in root.children(recursive=True))]
                    self.max_procs = max(self.max_procs, len(members))
            total = 0
            for pid in members:
                rss, hwm = proc_status_kib(pid, "VmRSS", "VmHWM")
                total += rss
                self.largest = max(self.largest, hwm)
            self.peak = max(self.peak, total)
            self.samples += 1
            self.stop.wait(self.interval)


def read_proc_io(pid: int) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return None
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines() if ": " in line)}


def own_rss_after_reset() -> int:
    """Reset our peak RSS to the current one (Linux 4.0+) and return it.

    A child's ru_maxrss starts from the memory image it had before exec: with vfork or
    posix_spawn that is our address space at its peak, with fork a copy of it.  So wait4's
    figure means something only where it exceeds this.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return proc_status_kib("self", "VmHWM")[0]


def measure(
    argv: list[str],
    stderr_path: Path,
    *,
    interval: float,
    timeout: float | None,
    env: dict[str, str],
    stdin: Path | None = None,
    stdout: Path | None = None,
) -> Measurement:
    """Run ``argv`` (stdin and stdout from and to /dev/null unless files are given) and
    measure it and every process it starts."""
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    out_flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if stdout else os.O_WRONLY
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, str(stdin or os.devnull), os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(stdout or os.devnull), out_flags, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(stderr_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    spawner_rss = own_rss_after_reset()
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setpgroup=0)
    sampler = TreeSampler(pid, interval)
    sampler.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    reaped = False
    try:
        # Wait without reaping: /proc/PID/io of the zombie still holds the totals of the
        # process and of every child it reaped.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        io = read_proc_io(pid)
        _, status, usage = os.wait4(pid, 0)
        reaped = True
    finally:
        if timer:
            timer.cancel()
        sampler.stop.set()
        if not reaped:  # interrupted: take the whole group down with us
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # stragglers the command left behind, if any
    stderr = stderr_path.read_text(errors="replace")[-2000:] if stderr_path.exists() else ""
    ru_maxrss = usage.ru_maxrss * 1024
    if ru_maxrss > spawner_rss + MiB:  # the kernel's exact figure
        largest, source = max(ru_maxrss, sampler.largest), "wait4 ru_maxrss"
    else:
        largest, source = (sampler.largest or None), "sampled VmHWM"
    return Measurement(
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_tree_rss=sampler.peak,
        largest_process=largest,
        largest_process_source=source,
        ru_maxrss=ru_maxrss,
        spawner_rss=spawner_rss,
        samples=sampler.samples,
        max_processes=sampler.max_procs,
        io=io,
        exit_code=os.waitstatus_to_exitcode(status),
        stderr=stderr,
        timed_out=timed_out.is_set(),
    )


# -- checking outputs -------------------------------------------------------------------------


def line_digest(path: Path) -> tuple[int, int]:
    """(lines, sum of per-line hashes mod 2**64): equal for any order of the same lines.

    Uses Python's built-in bytes hash (64-bit SipHash, keyed per process), so digests are
    comparable only within one process: we digest the input and the outputs in this one.
    Per-line blake2b-64 gives a key-independent digest but is ~5x slower (about 440 ns per
    14-byte line against ~90 ns: ~65 s against ~13 s for 2 GiB of words).
    """
    total = 0
    lines = 0
    with path.open("rb", buffering=1 << 20) as f:
        for line in f:
            total += hash(line)
            lines += 1
    return lines, total % (1 << 64)


def same_bytes(a: Path, b: Path, chunk: int = 4 * MiB) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    buf_a, buf_b = bytearray(chunk), bytearray(chunk)
    with a.open("rb", buffering=0) as fa, b.open("rb", buffering=0) as fb:
        while True:
            n = fa.readinto(buf_a)
            if n != fb.readinto(buf_b) or buf_a[:n] != buf_b[:n]:
                return False
            if not n:
                return True


# -- the plan ---------------------------------------------------------------------------------


@dataclass
class Tool:
    key: str
    label: str
    argv: list[str]
    input: Path
    kind: str  # floor | external | inmem | shuf | terashuf | duckdb | sort_slice | shuf_slice | inmem_slice ...
    jobs: int | None = None
    rounds: list[dict] = field(default_factory=list)
    stdin: Path | None = None  # terashuf reads standard input and writes standard output
    stdout: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    input_bytes: int = 0

    def __post_init__(self) -> None:
        self.input_bytes = self.input.stat().st_size  # before a slice or UTF-8 copy is deleted

    @property
    def command(self) -> str:
        """The command as a shell would run it (settings and redirections included)."""
        text = shlex.join(self.argv)
        if self.extra_env:
            text = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.extra_env.items()) + " " + text
        if self.stdin:
            text += f" < {shlex.quote(str(self.stdin))}"
        if self.stdout:
            text += f" > {shlex.quote(str(self.stdout))}"
        return text


# Runs whose output is shuf-big's, checked to be a permutation of their input.
SHUF_BIG_KINDS = ("external", "inmem", "inmem_slice")


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def shuf_big_command(explicit: str | None) -> list[str]:
    if explicit:
        return shlex.split(explicit)
    beside = Path(sys.executable).parent / "shuf-big"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("shuf-big")
    return [found] if found else [sys.executable, "-m", "shuf_big"]


def inmem_budget(size: int, lines: int) -> int:
    """A --mem that is at least 2x the input and enough for the in-memory path."""
    need = max(2 * size, size + INMEM_BYTES_PER_RECORD * lines) + INMEM_SLACK
    return -(-need // MiB) * MiB


def make_slice(src: Path, dst: Path, limit: int) -> Path:
    """The first lines of ``src`` up to ``limit`` bytes (``src`` itself if it is no larger)."""
    if src.stat().st_size <= limit:
        return src
    with src.open("rb") as f, dst.open("wb") as out:
        left = limit
        while left > 0:
            block = f.read(min(left, 4 * MiB))
            left -= len(block)
            if left <= 0 or not block:
                block = block[: block.rfind(b"\n") + 1]  # assumes a line shorter than 4 MiB
                left = 0
            out.write(block)
    return dst


def terashuf_tool(key: str, label: str, data: Path, work: Path, mem: int, kind: str, args: argparse.Namespace) -> Tool:
    """terashuf reads standard input and writes standard output, its settings in the environment."""
    extra = peers.terashuf_env({}, mem, work / "tmp")
    label = f"{label} MEMORY={extra['MEMORY']}"
    return Tool(key, label, [args.terashuf], data, kind, stdin=data, stdout=work / "out", extra_env=extra)


def plan_tools(
    data: Path,
    slice_path: Path | None,
    slice_lines: int,
    work: Path,
    meta: dict,
    args: argparse.Namespace,
    duck_input: Path | None,
) -> list[Tool]:
    """The runs of one profile, in the order each round runs them (slice runs only when
    ``slice_path`` is a real prefix; DuckDB when ``duck_input`` is given)."""
    sb = shuf_big_command(args.shuf_big)
    out = str(work / "out")
    tmp = str(work / "tmp")
    floor_tmp = shlex.quote(f"{tmp}/floor.tmp")
    floor = f"cat {shlex.quote(str(data))} > {floor_tmp} && cat {floor_tmp} > {shlex.quote(out)}"
    tools = [Tool("floor", "floor: cat in > tmp; cat tmp > out", ["bash", "-c", floor], data, "floor")]
    for j in args.job_list:
        argv = [*sb, str(data), "-o", out, "--mem", args.external_mem, "-T", tmp, "--seed", str(SEED), "-j", str(j)]
        tools.append(Tool(f"external_j{j}", f"shuf-big external -j {j}", argv, data, "external", j))
    mem = inmem_budget(meta["bytes"], meta["lines"])
    if mem <= INMEM_MAX_SHARE * psutil.virtual_memory().total:
        argv = [*sb, str(data), "-o", out, "--mem", f"{mem // MiB}M", "-T", tmp, "--seed", str(SEED)]
        tools.append(Tool("in_memory", f"shuf-big in memory (--mem {mem // MiB}M)", argv, data, "inmem"))
    else:
        log(f"skipping the in-memory run: it needs --mem {mem // MiB}M, more than {INMEM_MAX_SHARE:.0%} of RAM")
    tools.append(Tool("gnu_shuf", "GNU shuf", ["shuf", str(data), "-o", out], data, "shuf"))
    external_mem = corpus.parse_size(args.external_mem)
    if args.terashuf:
        tools.append(terashuf_tool("terashuf", "terashuf", data, work, external_mem, "terashuf", args))
    if duck_input is not None:
        argv = [sys.executable, "-m", "benchmarks.peers", "duckdb", str(duck_input), out]
        argv += ["--mem", args.external_mem, "--threads", str(cpu_count()), "--temp", tmp]
        label = "DuckDB ORDER BY random()" + (", UTF-8 copy" if duck_input != data else "")
        tools.append(Tool("duckdb", label, argv, duck_input, "duckdb"))
    if slice_path is not None:
        if not args.no_sort:
            argv = ["sort", "-R", "-S", SORT_MEM, "-T", tmp, "-o", out, str(slice_path)]
            tools.append(Tool("sort_r_slice", f"sort -R -S {SORT_MEM}, slice", argv, slice_path, "sort_slice"))
        if slice_path != data:
            argv = ["shuf", str(slice_path), "-o", out]
            tools.append(Tool("gnu_shuf_slice", "GNU shuf, slice", argv, slice_path, "shuf_slice"))
            small = inmem_budget(slice_path.stat().st_size, slice_lines)
            argv = [*sb, str(slice_path), "-o", out, "--mem", f"{small // MiB}M", "-T", tmp, "--seed", str(SEED)]
            label = f"shuf-big in memory (--mem {small // MiB}M), slice"
            tools.append(Tool("in_memory_slice", label, argv, slice_path, "inmem_slice"))
            if args.terashuf:
                tools.append(
                    terashuf_tool("terashuf_slice", "terashuf", slice_path, work, small, "terashuf_slice", args)
                )
                tools[-1].label += ", slice"
    return tools


# -- running a profile ------------------------------------------------------------------------


def clean_work(work: Path) -> None:
    (work / "out").unlink(missing_ok=True)
    tmp = work / "tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)


def check_output(tool: Tool, m: Measurement, out: Path, state: dict) -> tuple[str, str]:
    """(status, message), status ok, warn or fail.

    Every output must have the input's size.  A shuf-big output must also be a
    permutation of the input: the first one of each input (the corpus, the slice) is
    digested (line count and order-independent digest, compared with the input's) and
    kept as the reference; later ones, which use the same --seed and so must be the same
    bytes whatever --mem or -j, are compared with it byte for byte, and digested only if
    they differ.
    """
    if m.timed_out:
        return "fail", "timed out (killed)"
    if m.exit_code != 0:
        last = m.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return "fail", f"exit status {m.exit_code}: {last[0][:200]}"
    if not out.exists():
        return "fail", "no output file"
    in_size = tool.input_bytes
    if out.stat().st_size != in_size:
        return "fail", f"output is {out.stat().st_size} bytes, input {in_size}"
    if tool.kind not in SHUF_BIG_KINDS:
        return "ok", "size ok"
    references: dict[Path, Path] = state.setdefault("references", {})
    reference = references.get(tool.input)
    if reference is not None and same_bytes(out, reference):
        return "ok", "permutation (same bytes as the checked output)"
    digest = line_digest(out)
    if digest != state["digests"][tool.input]:
        return "fail", f"NOT a permutation of the input ({digest[0]} lines; digest differs)"
    if reference is None:
        references[tool.input] = out.rename(out.with_name(f"reference-{len(references)}"))
        return "ok", "permutation (line count and digest)"
    return "warn", "a permutation, but not the same bytes as the other runs with the same --seed"


def run_once(tool: Tool, round_no: int, work: Path, state: dict, args: argparse.Namespace, env: dict) -> dict:
    clean_work(work)
    if args.sync:
        os.sync()  # start every run without a backlog of dirty pages from the last one
    time.sleep(args.settle)
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
    out_size = out.stat().st_size if out.exists() else 0
    status, message = check_output(tool, m, out, state)
    temp_bytes = None
    if m.io is not None and "write_bytes" in m.io:
        temp_bytes = max(m.io["write_bytes"] - out_size, 0)
    if status == "ok" and temp_bytes is not None:
        wrote_temp = temp_bytes > tool.input.stat().st_size / 20
        if tool.kind in ("inmem", "inmem_slice") and wrote_temp:
            status, message = "warn", f"took the external path (wrote temp files); {message}"
        elif tool.kind == "external" and not wrote_temp:
            status, message = "warn", f"took the in-memory path (the input fits --mem); {message}"
    if leftovers:
        status = "fail" if status == "fail" else "warn"
        message += f"; left {len(leftovers)} entries in the temp dir ({', '.join(leftovers[:3])})"
    return {
        "round": round_no,
        "wall_s": round(m.wall_s, 4),
        "user_s": round(m.user_s, 4),
        "sys_s": round(m.sys_s, 4),
        "cpu_s": round(m.cpu_s, 4),
        "peak_tree_rss": m.peak_tree_rss,
        "largest_process_rss": m.largest_process,
        "largest_process_source": m.largest_process_source,
        "ru_maxrss": m.ru_maxrss,
        "spawner_rss": m.spawner_rss,
        "rss_samples": m.samples,
        "max_processes": m.max_processes,
        "io": m.io,
        "temp_bytes": temp_bytes,
        "exit_code": m.exit_code,
        "status": status,
        "check": message,
        "stderr": m.stderr[-500:] if status != "ok" else "",
    }


def run_profile(profile: str, meta: dict, args: argparse.Namespace, env: dict[str, str]) -> dict:
    data = args.data_dir / corpus.FILES[profile]
    work = args.work_dir / profile
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    slice_path = make_slice(data, args.work_dir / f"{profile}.slice", args.slice) if args.slice else None
    log(f"[{profile}] checking the input: line count and digest of {corpus.format_size(meta['bytes'])} ...")
    started = time.perf_counter()
    state: dict = {"digests": {data: line_digest(data)}}
    digest_s = time.perf_counter() - started
    if state["digests"][data][0] != meta["lines"]:
        log(f"[{profile}] warning: {state['digests'][data][0]} lines, its metadata says {meta['lines']}")
    if slice_path is not None and slice_path != data:
        state["digests"][slice_path] = line_digest(slice_path)
    slice_lines = state["digests"][slice_path][0] if slice_path is not None else 0
    duck_input, dropped = None, 0
    if args.duckdb:
        log(f"[{profile}] checking that the corpus is valid UTF-8 for DuckDB ...")
        duck_input, dropped = peers.utf8_copy(data, args.work_dir / f"{profile}.utf8")
    tools = plan_tools(data, slice_path, slice_lines, work, meta, args, duck_input)
    load_before = os.getloadavg()
    try:
        for r in range(1, args.rounds + 1):
            # Rotate the order each round, and run it backwards every second round, so no
            # tool always runs first or always follows the same one.
            shift = (r - 1) % len(tools)
            order = tools[shift:] + tools[:shift]
            for tool in order if r % 2 else order[::-1]:
                rec = run_once(tool, r, work, state, args, env)
                tool.rounds.append(rec)
                log(
                    f"[{profile} {r}/{args.rounds}] {tool.label:36s} {rec['wall_s']:8.2f} s  cpu {rec['cpu_s']:7.2f} s"
                    f"  peak {rec['peak_tree_rss'] / MiB:7.1f} MiB  {rec['status']}: {rec['check']}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        slice_bytes = slice_path.stat().st_size if slice_path is not None else 0
        for copy in (slice_path, duck_input):
            if copy is not None and copy != data:
                copy.unlink(missing_ok=True)
    return {
        "corpus": {**meta, "path": str(data), "digest_seconds": round(digest_s, 2)},
        "slice_bytes": slice_bytes,
        "slice_is_corpus": slice_path == data,
        "duckdb_input_dropped_bytes": dropped if duck_input is not None else None,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "tools": {
            t.key: {
                "label": t.label,
                "kind": t.kind,
                "jobs": t.jobs,
                "argv": t.argv,
                "command": t.command,
                "input_bytes": t.input_bytes,
                "summary": summarize(t.rounds),
                "rounds": t.rounds,
            }
            for t in tools
        },
    }


def summarize(rounds: list[dict]) -> dict:
    """Medians over the rounds that did not fail (peaks: the maximum)."""
    good = [r for r in rounds if r["status"] != "fail"]
    statuses = {r["status"] for r in rounds}
    summary = {
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


def ratios(profile: str, result: dict, peak_target: int) -> dict:
    """The figures the project targets, from the medians."""
    tools = result["tools"]

    def wall(key: str | None) -> float | None:
        return tools[key]["summary"].get("wall_median_s") if key in tools else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    def met(value: float | None, target: float) -> bool | None:
        return None if value is None else value <= target

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


# -- the machine ------------------------------------------------------------------------------


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def filesystem_of(path: Path) -> str:
    target = str(path.resolve())
    best, found = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, found = mount, f"{fstype} ({device} on {mount})"
    return found


def shuf_big_python(sb: list[str]) -> str:
    """The Python that runs shuf-big (its console script's interpreter), else this one."""
    with contextlib.suppress(OSError, UnicodeDecodeError, IndexError):
        first = Path(sb[0]).read_text().splitlines()[0]
        if first.startswith("#!") and "python" in first:
            return first[2:].split()[0]
    if len(sb) > 2 and sb[1:3] == ["-m", "shuf_big"]:
        return sb[0]
    return sys.executable


def machine_info(args: argparse.Namespace) -> dict:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    sb = shuf_big_command(args.shuf_big)
    sb_python = shuf_big_python(sb)
    dirty = command_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "shuf_big", "pyproject.toml"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "cores_usable": cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": command_output([sb_python, "-c", "import numpy; print(numpy.__version__)"]),
        "psutil": psutil.__version__,
        "shuf_big_command": sb,
        "shuf_big_version": command_output([*sb, "--version"]),
        "shuf_big_git_commit": command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "shuf_big_uncommitted_changes": dirty not in ("", "unknown"),
        "coreutils": command_output(["shuf", "--version"]).splitlines()[0],
        "work_filesystem": filesystem_of(args.work_dir),
        "load_average_start": os.getloadavg(),
        "terashuf": args.terashuf,
        "duckdb": args.duckdb,
        "zstandard": command_output([sb_python, "-c", "import zstandard; print(zstandard.__version__)"]),
    }


# -- main -------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def corpus_meta(path: Path) -> dict:
    """The corpus's sidecar metadata, or the same facts counted from the file."""
    meta = corpus.read_meta(path)
    if meta is not None:
        return meta
    size = path.stat().st_size
    lines = 0
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(16 * MiB):
            lines += chunk.count(b"\n")
    return {"file": path.name, "bytes": size, "lines": lines, "bytes_per_line": round(size / max(lines, 1), 2)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = corpus.parse_size
    parser.add_argument("--size", type=size, default=size("2G"), help="bytes per corpus [2G]")
    parser.add_argument("--profiles", default=",".join(corpus.PROFILES), help="comma-separated [%(default)s]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported [3]")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data", help="corpora [benchmarks/data]")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory [benchmarks/results]")
    parser.add_argument("--skip-build", action="store_true", help="use the corpora in --data-dir as they are")
    parser.add_argument(
        "--external-mem", default=EXTERNAL_MEM, help="--mem of the external runs [%(default)s]; try 16M at small --size"
    )
    parser.add_argument("--jobs", default="1,2", help="-j values of the external runs; the CPU count is added [1,2]")
    parser.add_argument(
        "--slice", type=size, default=size("200M"), help="input of the small-input and sort -R runs; 0: none [200M]"
    )
    parser.add_argument("--no-sort", action="store_true", help="skip the sort -R run on the slice")
    parser.add_argument("--terashuf", help="terashuf binary to run side by side [terashuf on PATH, if any]")
    parser.add_argument("--no-terashuf", action="store_true", help="leave terashuf out even if it is on PATH")
    parser.add_argument("--no-duckdb", action="store_true", help="leave DuckDB out even if duckdb is importable")
    parser.add_argument(
        "--pipeline", default="docs", help="profile of the sharded/compressed pipeline runs, or 'none' [docs]"
    )
    parser.add_argument("--pipeline-shards", type=int, default=8, help="input and output shards [8]")
    parser.add_argument("--work-dir", type=Path, help="outputs and temp files [DATA_DIR/run]: same filesystem")
    parser.add_argument("--shuf-big", help="command that runs shuf-big [shuf-big beside this Python, else PATH]")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.05,
        help="RSS sampling interval, seconds [0.05]; VmHWM catches peaks between",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="kill a run after this many seconds [3600]")
    parser.add_argument("--no-sync", dest="sync", action="store_false", help="do not sync(2) before each run")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait before each run [0]: on a VM that hands freed memory back to its host, "
        "a run right after one that freed gigabytes gets them cheaply, the others fault them in anew",
    )
    args = parser.parse_args(argv)
    if psutil is None:
        parser.error("psutil is missing: pip install -r benchmarks/requirements.txt")
    args.profile_list = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = sorted(set(args.profile_list) - set(corpus.PROFILES))
    if unknown or not args.profile_list:
        parser.error(f"unknown profile(s) {', '.join(unknown)}: choose from {', '.join(corpus.PROFILES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        jobs = {int(j) for j in args.jobs.split(",") if j.strip()}
    except ValueError:
        parser.error(f"--jobs wants numbers like 1,2, got {args.jobs!r}")
    if min(jobs, default=1) < 1:
        parser.error("--jobs values must be at least 1")
    args.job_list = sorted(jobs | {cpu_count()})
    try:
        args.peak_target = corpus.parse_size(args.external_mem) + TARGET_RSS_OVER_BUDGET
    except argparse.ArgumentTypeError as err:
        parser.error(f"--external-mem: {err}")
    args.terashuf = None if args.no_terashuf else peers.find_terashuf(args.terashuf)
    args.duckdb = None if args.no_duckdb else peers.duckdb_version()
    if args.pipeline != "none" and args.pipeline not in corpus.PROFILES:
        parser.error(f"--pipeline {args.pipeline}: choose one of {', '.join(corpus.PROFILES)} or none")
    if args.pipeline_shards < 1:
        parser.error("--pipeline-shards must be at least 1")
    args.data_dir = args.data_dir.resolve()
    args.work_dir = (args.work_dir or args.data_dir / "run").resolve()
    for tool in ("shuf", "sort", "cat", "bash"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    needed = [*args.profile_list, *([args.pipeline] if args.pipeline not in ("none", *args.profile_list) else [])]
    if not args.skip_build:
        # In a child process, so that this one stays small (see own_rss_after_reset).
        build = [sys.executable, "-m", "benchmarks.corpus", "--size", str(args.size), "--out", str(args.data_dir)]
        if subprocess.run([*build, "--profiles", ",".join(needed)]).returncode != 0:
            sys.exit("run.py: building the corpora failed")
    metas = {}
    for profile in needed:
        path = args.data_dir / corpus.FILES[profile]
        if not path.exists():
            sys.exit(f"run.py: {path} does not exist (build it with corpus.py or drop --skip-build)")
        metas[profile] = corpus_meta(path)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    factor = DISK_FACTOR + (1.0 if args.duckdb else 0.0)  # DuckDB may need a UTF-8 copy of the corpus
    need = int(factor * max(m["bytes"] for m in metas.values()))
    free = shutil.disk_usage(args.work_dir).free
    if free < need:
        sys.exit(f"run.py: {args.work_dir} has {corpus.format_size(free)} free, needs ~{corpus.format_size(need)}")
    report_data = {
        "machine": machine_info(args),
        "config": {
            "size": args.size,
            "profiles": args.profile_list,
            "rounds": args.rounds,
            "jobs": args.job_list,
            "external_mem": args.external_mem,
            "sort_mem": SORT_MEM,
            "seed": SEED,
            "slice": args.slice,
            "rss_interval_s": args.interval,
            "sync_before_each_run": args.sync,
            "settle_s": args.settle,
            "work_dir": str(args.work_dir),
            "env": {"LC_ALL": "C"},
            "terashuf_memory_gib": corpus.parse_size(args.external_mem) / (1 << 30) if args.terashuf else None,
            "pipeline_profile": args.pipeline,
            "pipeline_shards": args.pipeline_shards,
            "targets": {
                "external_vs_floor": TARGET_EXTERNAL_VS_FLOOR,
                "external_vs_terashuf": TARGET_EXTERNAL_VS_TERASHUF,
                "inmem_vs_shuf": TARGET_INMEM_VS_SHUF,
                "inmem_vs_shuf_small": TARGET_INMEM_VS_SHUF_SMALL,
                "small_input": SMALL_INPUT,
                "peak_tree_rss": args.peak_target,
                "pipeline": pipeline.TARGETS,
            },
        },
        "profiles": {},
    }
    env = dict(os.environ, LC_ALL="C")
    try:
        for profile in args.profile_list:
            result = run_profile(profile, metas[profile], args, env)
            result["ratios"] = ratios(profile, result, args.peak_target)
            report_data["profiles"][profile] = result
            report_data["machine"]["load_average_end"] = os.getloadavg()
            report.write_all(args.out, report_data)  # after every profile: a partial run still reports
        if args.pipeline != "none":
            sb = shuf_big_command(args.shuf_big)
            zstd = report_data["machine"]["zstandard"] not in ("", "unknown")
            report_data["pipeline"] = pipeline.run_pipeline(
                args.data_dir / corpus.FILES[args.pipeline], args, env, sb, measure, zstd=zstd, log=log
            )
            report_data["machine"]["load_average_end"] = os.getloadavg()
            report.write_all(args.out, report_data)
    finally:
        with contextlib.suppress(OSError):
            args.work_dir.rmdir()  # only if empty
    log(f"results: {args.out / 'results.md'}, {args.out / 'results.json'}, {args.out / 'chart.png'}")


if __name__ == "__main__":
    main()
