"""A run's own peak memory: what ``Result.peak_memory`` and ``-v`` report.

The kernel keeps a high-water mark of each process's resident memory (``VmHWM`` in
``/proc/self/status``, ``ru_maxrss``), but over the process's whole life: a library caller
that held 1 GiB before calling ``shuffle()`` would see 1 GiB.  Writing ``5`` to
``/proc/self/clear_refs`` (Linux 4.0 and later) resets the mark to the current RSS, so
read after the run it is the run's own peak.  That reset is process-wide: a caller that
reads its own VmHWM afterwards sees the peak since the run started.

Where the reset is refused, ``ru_maxrss`` is the run's peak only if it grew during the
run; otherwise the run stayed below an earlier peak and its own is unknown (None).
"""

from __future__ import annotations

import contextlib
import re
import resource

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"
RESET_PEAK = "5"  # clear_refs: reset the peak RSS to the current RSS


class PeakMemory:
    """Started before a run, asked after it: the run's peak RSS in bytes."""

    def __init__(self) -> None:
        self.reset = _reset_high_water_mark()
        self.maxrss_before = _maxrss()

    def peak(self) -> int | None:
        """The peak RSS since this object was made, or None where it cannot be told apart
        from an earlier, higher peak of the process."""
        if self.reset:
            high = _high_water_mark()
            if high is not None:
                return high
        after = _maxrss()
        return after if after > self.maxrss_before else None


def _reset_high_water_mark() -> bool:
    with contextlib.suppress(OSError):
        with open(CLEAR_REFS, "w") as refs:
            refs.write(RESET_PEAK)
        return True
    return False


def _high_water_mark() -> int | None:
    with contextlib.suppress(OSError):
        with open(STATUS) as status:
            found = re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.MULTILINE)
        if found:
            return int(found.group(1)) * 1024
    return None


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
