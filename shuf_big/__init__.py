"""shuf-big: shuffle line-based corpora far larger than memory, exactly uniformly.

>>> import shuf_big
>>> shuf_big.shuffle("corpus.jsonl", "shuffled.jsonl", mem="4G", seed=1)  # doctest: +SKIP
"""

__version__ = "1.0.0"

from .api import shuffle
from .errors import ShufBigError
from .iterate import iter_shuffled
from .job import Result

__all__ = ["Result", "ShufBigError", "__version__", "iter_shuffled", "shuffle"]
