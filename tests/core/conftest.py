"""Fixtures shared by the tests of the pure core (one test file per ``shuf_big.core`` module)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

RecordsArray = Callable[..., tuple[np.ndarray, np.ndarray]]


def _records_array(records: list[bytes], sep: bytes = b"\n") -> tuple[np.ndarray, np.ndarray]:
    """The records, each ended by ``sep``, as one uint8 array, and their end offsets."""
    blob = b"".join(r + sep for r in records)
    data = np.frombuffer(blob, dtype=np.uint8).copy()
    ends = np.cumsum([len(r) + len(sep) for r in records]).astype(np.int64)
    return data, ends


@pytest.fixture(scope="session")  # session scope: hypothesis refuses function-scoped fixtures
def records_array() -> RecordsArray:
    """Build test records as the core sees them: ``records_array(records, sep=b"\\n")``."""
    return _records_array
