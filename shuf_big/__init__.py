"""shuf-big: shuffle line-based corpora far larger than memory, exactly uniformly.

>>> import shuf_big
>>> shuf_big.shuffle("corpus.jsonl", "shuffled.jsonl", mem="4G", seed=1)  # doctest: +SKIP

The names below are imported on first use (module ``__getattr__``), so ``import shuf_big``
and ``shuf-big --version``/``--help`` do not pay for numpy and tqdm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"

if TYPE_CHECKING:
    from shuf_big.api import shuffle
    from shuf_big.errors import ShufBigError
    from shuf_big.iterate import iter_shuffled
    from shuf_big.job import Result

__all__ = ["Result", "ShufBigError", "__version__", "iter_shuffled", "shuffle"]

# Each public name and the module that defines it.
_LAZY = {"shuffle": "api", "ShufBigError": "errors", "iter_shuffled": "iterate", "Result": "job"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shuf_big' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
