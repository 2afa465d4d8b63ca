"""Helpers shared by the test files that run the command: data, records, messages, signals."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import numpy as np
import pytest


def numbered_rows(start: int, count: int) -> bytes:
    """Distinct fixed-width lines ``0000000\\n``, ``0000001\\n``... (8 bytes each), built with numpy."""
    idx = np.arange(start, start + count, dtype=np.int64)
    rows = np.empty((count, 8), dtype=np.uint8)
    rows[:, :7] = (idx[:, None] // 10 ** np.arange(6, -1, -1)) % 10 + ord("0")
    rows[:, 7] = ord("\n")
    return rows.tobytes()


def sorted_records(blob: bytes, sep: bytes = b"\n") -> list[bytes]:
    """The sorted records of an output, which must end with ``sep`` unless empty."""
    if not blob:
        return []
    assert blob.endswith(sep), f"output does not end with {sep!r}: ...{blob[-20:]!r}"
    return sorted(blob[: -len(sep)].split(sep))


def assert_one_error_line(stderr: bytes, *needles: str) -> str:
    """GNU style: exactly one line ``shuf-big: <message>``, no traceback."""
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    assert text.startswith("shuf-big: "), text
    assert text.endswith("\n") and text.count("\n") == 1, f"expected one line, got {text!r}"
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text


def default_signals() -> None:
    """In a child before exec: SIGINT and SIGHUP at their default action.

    A child inherits ignored signals, and shuf-big keeps them ignored (as coreutils do):
    under ``nohup`` or in a background job of a script the suite's own SIGINT/SIGHUP
    would otherwise be ignored by the command under test.
    """
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def wait_until(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll a file-system or /proc condition (no sleeping as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"shuf-big exited (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)
