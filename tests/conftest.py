"""Shared fixtures."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shuf_big_cmd() -> list[str]:
    """The installed console script (the venv's own first), else ``python -m shuf_big``."""
    beside = Path(sys.executable).with_name("shuf-big")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("shuf-big")
    return [found] if found else [sys.executable, "-m", "shuf_big"]
