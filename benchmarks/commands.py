"""What every benchmark command shares: finding shuf-big, the machine's facts, the common options.

Written once so that run.py, dask_bench.py, scaling.py, bigrun.py and smoke.py run the same
shuf-big, describe the machine alike and take ``--shuf-big``, ``--interval``... in one sense.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.measure import psutil
from benchmarks.texts import TEXT_HELP, TEXTS

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED = 12345  # shuf-big's --seed in every benchmark: equal seeds must give equal bytes
EXTERNAL_MEM = "256M"  # the --mem of the external runs, and terashuf's and DuckDB's limit

T = TypeVar("T")


def log(message: str) -> None:
    """Progress on standard error, at once (runs take minutes; standard output is the report)."""
    print(message, file=sys.stderr, flush=True)


def cpu_count() -> int:
    """The cores this process may use (shuf-big's default -j)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def round_order(items: Sequence[T], round_no: int) -> list[T]:
    """The order of round ``round_no`` (from 1): rotated by one each round and backwards every
    second round, so that no run always goes first or always follows the same one."""
    shift = (round_no - 1) % len(items)
    order = [*items[shift:], *items[:shift]]
    return order if round_no % 2 else order[::-1]


def shuf_big_command(explicit: str | None) -> list[str]:
    """``--shuf-big CMD``, else the script beside this Python, else the one on PATH, else ``-m``."""
    if explicit:
        return shlex.split(explicit)
    beside = Path(sys.executable).parent / "shuf-big"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("shuf-big")
    return [found] if found else [sys.executable, "-m", "shuf_big"]


def shuf_big_python(sb: list[str]) -> str:
    """The Python that runs shuf-big (its console script's interpreter), else this one."""
    with contextlib.suppress(OSError, UnicodeDecodeError, IndexError):
        first = Path(sb[0]).read_text().splitlines()[0]
        if first.startswith("#!") and "python" in first:
            return first[2:].split()[0]
    if len(sb) > 2 and sb[1:3] == ["-m", "shuf_big"]:
        return sb[0]
    return sys.executable


def command_output(argv: list[str]) -> str:
    """A command's standard output, stripped, or ``unknown`` if it cannot run."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def filesystem_of(path: Path) -> str:
    """The type, device and mount point of the filesystem holding ``path``."""
    target = str(path.resolve())
    best, found = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, found = mount, f"{fstype} ({device} on {mount})"
    return found


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_info(
    sb: list[str], work_dir: Path, *, terashuf: str | None = None, duckdb: str | None = None
) -> dict[str, Any]:
    """The machine and the software measured, as the results record them."""
    sb_python = shuf_big_python(sb)
    dirty = command_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "shuf_big", "pyproject.toml"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
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
        "work_filesystem": filesystem_of(work_dir),
        "load_average_start": os.getloadavg(),
        "terashuf": terashuf,
        "duckdb": duckdb,
        "zstandard": command_output([sb_python, "-c", "import zstandard; print(zstandard.__version__)"]),
    }


def add_common_options(parser: argparse.ArgumentParser, *, timeout: float, data_help: str) -> None:
    """The options every benchmark command has, with one meaning."""
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "data", help=data_help)
    parser.add_argument("--text", choices=TEXTS, default="debian", help=TEXT_HELP)
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="results directory [benchmarks/results]"
    )
    parser.add_argument("--shuf-big", help="command that runs shuf-big [shuf-big beside this Python, else PATH]")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.05,
        help="RSS sampling interval, seconds [0.05]; VmHWM catches peaks between",
    )
    parser.add_argument(
        "--timeout", type=float, default=timeout, help=f"kill a run after this many seconds [{timeout:.0f}]"
    )
    parser.add_argument("--no-sync", dest="sync", action="store_false", help="do not sync(2) before each run")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait before each run [0]: on a VM that hands freed memory back to its host, "
        "a run right after one that freed gigabytes gets them cheaply, the others fault them in anew",
    )


def require_psutil(parser: argparse.ArgumentParser) -> None:
    """Stop with the fix if psutil, which finds a run's descendants, is missing."""
    if psutil is None:
        parser.error("psutil is missing: pip install -r benchmarks/requirements.txt")
