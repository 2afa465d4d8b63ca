"""``-n COUNT`` always streams: memory for about 2 x COUNT records whatever the input size and ``--mem``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import numbered_rows

MIB = 1 << 20


# Runs the command from a small interpreter and prints its peak RSS: Linux carries the
# high-water mark of a forked process across exec, so a child of this (large) test process
# would report this process's own peak.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout\n"
    "sys.stdout.buffer.write(b'%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss + out)\n"
)


def _run_measured(cmd: list[str]) -> tuple[bytes, int]:
    """The output and the peak RSS in bytes of the command (the kernel's ``ru_maxrss``)."""
    result = subprocess.run([sys.executable, "-S", "-c", _MEASURE, *cmd], capture_output=True, check=True)
    peak, _, out = result.stdout.partition(b"\n")
    return out, int(peak) * 1024


def test_head_count_peak_rss_does_not_grow_with_the_input(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """80 MiB of 8-byte lines at the default --mem (25% of RAM, which used to load them all):
    the peak RSS stays within a few MiB of a run on 1000 lines."""
    big = tmp_path / "big.txt"
    big.write_bytes(numbered_rows(0, MIB) * 10)
    small = tmp_path / "small.txt"
    small.write_bytes(numbered_rows(0, 1000))
    _, baseline = _run_measured([*shuf_big_cmd, "-n", "1000", "--seed", "3", str(small)])
    sample, peak = _run_measured([*shuf_big_cmd, "-n", "1000", "--seed", "3", str(big)])
    assert len(sample.splitlines()) == 1000
    assert peak - baseline < 24 * MIB, f"peak {peak / MIB:.0f} MiB, 1000-line run {baseline / MIB:.0f} MiB"


def test_head_count_is_the_start_of_the_full_shuffle() -> None:
    """Input that fits --mem now streams too, and still gives the full shuffle's first lines."""
    import io

    import shuf_big

    data = numbered_rows(0, 100_000)
    full, head = io.BytesIO(), io.BytesIO()
    shuf_big.shuffle(io.BytesIO(data), full, seed=9)
    result = shuf_big.shuffle(io.BytesIO(data), head, seed=9, head_count=777)
    assert head.getvalue() == b"".join(full.getvalue().splitlines(keepends=True)[:777])
    assert result.path == "streaming -n"
