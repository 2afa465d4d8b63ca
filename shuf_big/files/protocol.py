"""The reader protocol: what the engines ask of an input, implemented whole by every reader
(plain files, each codec's decompressor, file objects and pipes, documents, the stream over
many inputs, the records of ``-e`` and ``-i``), so that no caller has to ask which one it holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from shuf_big.errors import ShufBigError
from shuf_big.system.progress import Tracked

# Runs a function over a sequence of arguments, maybe on several threads (the engine's map).
Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


class Reader(Tracked, Protocol):
    """An input as the engines read it: every reader implements all of this (plain files,
    each codec's decompressor, file objects and pipes, documents, a prefix put back, the
    stream over many inputs, the records of ``-e`` and ``-i``), so no caller has to ask
    which one it holds; ``tests/test_readers.py`` runs the same cases over each."""

    def readinto(self, view: memoryview) -> int:
        """Read into ``view``; the bytes read, 0 only at the end."""
        ...

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        """As :meth:`readinto`, in ``pieces`` reads at once through ``map_fn`` where the
        input allows it (a plain file), else one."""
        ...

    def locate(self, index: int) -> tuple[str, int]:
        """Where record ``index`` of the stream (from 0) is: the input that holds it, and its
        number there from 1 (for newline-ended records of a file, its line number)."""
        ...

    @property
    def rewindable(self) -> bool:
        """Whether :meth:`rewind` can start the stream again."""
        ...

    def rewind(self) -> None:
        """Start again from the first byte; a one-line error if it cannot be read twice."""
        ...

    def close(self) -> None:
        """Release what it holds (a thread, a decompressor); the files it reads are its opener's."""
        ...


class OneInput:
    """The reader protocol's answers for a reader of one input named ``what``, read once
    and in one piece; its subclasses read, and say what they know beyond that."""

    what: str
    rewindable = False

    def readinto(self, view: memoryview) -> int:
        raise NotImplementedError

    @property
    def current_what(self) -> str:
        return self.what

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        return self.readinto(view)

    def locate(self, index: int) -> tuple[str, int]:
        return self.what, index + 1

    def rewind(self) -> None:
        raise ShufBigError(f"cannot read {self.what} twice")

    def close(self) -> None:
        pass


class PrefixedReader:
    """A reader that first returns bytes already read from ``rest`` (a probe), then the rest.

    ``prefix`` is what ``rest`` gave after its first ``skipped`` records (header records
    taken off), so record ``k`` here is record ``k + skipped`` there.  The prefix is
    dropped as soon as it is used up, so its memory is returned before pass 1 needs the
    rest of the budget.  What ``rest`` gave before cannot be had again: not rewindable.
    """

    rewindable = False

    def __init__(self, prefix: np.ndarray, rest: Reader, skipped: int = 0) -> None:
        self.prefix: np.ndarray | None = prefix
        self.offset = 0
        self.rest = rest
        self.skipped = skipped

    def readinto(self, buffer: memoryview) -> int:
        if self.prefix is None:
            return self.rest.readinto(buffer)
        n = min(len(buffer), len(self.prefix) - self.offset)
        np.frombuffer(buffer, dtype=np.uint8, count=n)[:] = self.prefix[self.offset : self.offset + n]
        self.offset += n
        if self.offset >= len(self.prefix):
            self.prefix = None
        return n

    def readinto_parallel(self, view: memoryview, pieces: int, map_fn: Mapper) -> int:
        if self.prefix is None:
            return self.rest.readinto_parallel(view, pieces, map_fn)
        return self.readinto(view)

    def locate(self, index: int) -> tuple[str, int]:
        return self.rest.locate(index + self.skipped)

    def rewind(self) -> None:
        raise ShufBigError(f"cannot read {self.rest.current_what or 'the input'} twice")

    def close(self) -> None:
        self.rest.close()

    @property
    def current_what(self) -> str:
        return self.rest.current_what

    @property
    def disk_size(self) -> int | None:
        return self.rest.disk_size

    def consumed(self) -> int:
        """The prefix was read from ``rest``, and counted there."""
        return self.rest.consumed()
