"""Running one command and measuring its process tree: wall time, CPU, peak RSS, bytes written.

Every benchmark times its commands with ``measure``, so that their figures mean the same:
wall time from spawn to exit, user+sys CPU of the tree (``wait4``), the peak of the tree's
summed VmRSS (sampled; psutil finds the descendants), the largest single process
(``ru_maxrss`` where it is exact, else the sampled VmHWM) and ``/proc/PID/io``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.units import MiB

try:
    import psutil  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # told to the user by each command's argument check
    psutil = None


@dataclass
class Measurement:
    """What ``measure`` saw of one run."""

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

    def failure(self) -> str | None:
        """Why the run failed (killed, or a non-zero exit with its last line of stderr), or None."""
        if self.timed_out:
            return "timed out (killed)"
        if self.exit_code != 0:
            last = self.stderr.strip().splitlines()[-1:] or ["(no message)"]
            return f"exit status {self.exit_code}: {last[0][:200]}"
        return None

    def temp_bytes(self, output_bytes: int) -> int | None:
        """Bytes the tree wrote beyond its output (its temp files), None where /proc/PID/io was unreadable."""
        if self.io is None or "write_bytes" not in self.io:
            return None
        return max(self.io["write_bytes"] - output_bytes, 0)

    def record(self) -> dict[str, Any]:
        """The figures as the results' JSON holds them, one round of one run."""
        return {
            "wall_s": round(self.wall_s, 4),
            "user_s": round(self.user_s, 4),
            "sys_s": round(self.sys_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "peak_tree_rss": self.peak_tree_rss,
            "largest_process_rss": self.largest_process,
            "largest_process_source": self.largest_process_source,
            "ru_maxrss": self.ru_maxrss,
            "spawner_rss": self.spawner_rss,
            "rss_samples": self.samples,
            "max_processes": self.max_processes,
            "io": self.io,
            "exit_code": self.exit_code,
        }


def proc_status_kib(pid: int | str, *fields: str) -> list[int]:
    """Fields like VmRSS and VmHWM of /proc/PID/status in bytes; missing ones are 0."""
    values = dict.fromkeys(fields, 0)
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) * 1024
    return [values[f] for f in fields]


class Sampler(threading.Thread):
    """A daemon thread that takes a ``sample`` every ``interval`` seconds until ``stop`` is set,
    keeping the highest as ``peak``: what a run used at most, seen from outside it."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop = threading.Event()
        self.peak = 0
        self.samples = 0

    def sample(self) -> int:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.sample())
            self.samples += 1
            self.stop.wait(self.interval)

    def finish(self) -> None:
        self.stop.set()
        self.join()


class TreeSampler(Sampler):
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
        super().__init__(interval)
        self.pid = pid
        self.rescan = rescan
        self.members = [pid]
        self.largest = 0
        self.max_procs = 1

    def sample(self) -> int:
        if self.samples % self.rescan == 0:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(self.pid).children(recursive=True)
                self.members = [self.pid, *(k.pid for k in children)]
                self.max_procs = max(self.max_procs, len(self.members))
        total = 0
        for pid in self.members:
            rss, hwm = proc_status_kib(pid, "VmRSS", "VmHWM")
            total += rss
            self.largest = max(self.largest, hwm)
        return total


class TempSampler(Sampler):
    """Peak bytes allocated under a directory tree, sampled every ``interval`` seconds."""

    def __init__(self, root: Path, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.root = root

    def sample(self) -> int:
        used = 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                with contextlib.suppress(OSError):  # deleted meanwhile
                    used += os.lstat(os.path.join(folder, name)).st_blocks * 512
        return used


def read_proc_io(pid: int) -> dict[str, int] | None:
    """/proc/PID/io as numbers, None where it is unreadable."""
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


def _file_actions(stdin: Path | None, stdout: Path | None, stderr: Path) -> list[tuple[Any, ...]]:
    out_flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if stdout else os.O_WRONLY
    return [
        (os.POSIX_SPAWN_OPEN, 0, str(stdin or os.devnull), os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(stdout or os.devnull), out_flags, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(stderr), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


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
    actions = _file_actions(stdin, stdout, stderr_path)
    spawner_rss = own_rss_after_reset()
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setpgroup=0)
    sampler = TreeSampler(pid, interval)
    sampler.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _kill_group(pid)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    reaped = False
    try:
        # Wait without reaping: /proc/PID/io of the zombie still holds the totals of the
        # process and of every child it reaped.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - start
        sampler.finish()
        io = read_proc_io(pid)
        _, status, usage = os.wait4(pid, 0)
        reaped = True
    finally:
        if timer:
            timer.cancel()
        sampler.stop.set()
        if not reaped:  # interrupted: take the whole group down with us
            _kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    _kill_group(pid)  # stragglers the command left behind, if any
    stderr = stderr_path.read_text(errors="replace")[-2000:] if stderr_path.exists() else ""
    ru_maxrss = usage.ru_maxrss * 1024
    largest: int | None
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


def fresh_work(work: Path, *, out_dir: bool = False) -> None:
    """Remove the last run's ``work/out`` (a file, or with ``out_dir`` a folder) and ``work/tmp``;
    make ``tmp`` (and ``out``) anew.  Other files in ``work``, such as kept references, stay."""
    for name in ("out", "tmp"):
        path = work / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (work / "tmp").mkdir(parents=True)
    if out_dir:
        (work / "out").mkdir()


def settle(sync: bool, seconds: float) -> None:
    """Before a run: flush the last one's dirty pages (``sync``, not timed) and wait ``seconds``.

    On a VM that hands freed memory back to its host, a run right after one that freed
    gigabytes gets that memory cheaply while the others fault it in anew.
    """
    if sync:
        os.sync()
    time.sleep(seconds)
