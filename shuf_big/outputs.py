"""Outputs: one destination, or ``--shards K`` files cut from one shuffle.

Every file is written through :class:`shuf_big.io.Output` (atomic replace, compression by
extension, header lines on top), so a sharded run keeps the guarantees of a single one.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from . import core
from .errors import ShufBigError
from .inputs import compression_of
from .io import Output


def shard_names(pattern: str, shards: int) -> list[str]:
    """The file names of ``shards`` shards: ``pattern.format(shard=i, shards=shards)``.

    ``{shard}`` counts from 0, as the ``train-00000-of-00004`` convention; a pattern that
    does not tell the shards apart is an error.
    """
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    if not fields <= {"shard", "shards"}:
        bad = ", ".join(sorted("{" + name + "}" for name in fields - {"shard", "shards"}))
        raise ShufBigError(f"invalid output pattern '{pattern}': unknown field {bad} (use {{shard}} and {{shards}})")
    try:
        names = [pattern.format(shard=i, shards=shards) for i in range(shards)]
    except (ValueError, IndexError) as err:
        raise ShufBigError(f"invalid output pattern '{pattern}': {err}") from None
    if len(set(names)) < shards:
        raise ShufBigError(f"--shards {shards} needs an output pattern with {{shard}}, e.g. 'out-{{shard:05d}}.txt'")
    return names


class ShardFile(Protocol):
    """What :class:`ShardedOutput` fills: an :class:`~shuf_big.io.Output` or a Dask piece."""

    preamble: bytes

    def open(self) -> None: ...
    def write(self, parts: list[memoryview]) -> int: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class ShardedOutput:
    """``K`` output files of near-equal record counts, filled one after another.

    Shard ``s`` gets records ``[s * n // K, (s + 1) * n // K)`` of the shuffle, so the engine
    must call :meth:`expect` with ``n`` before writing (or ``limits`` are given: file ``s``
    ends after record ``limits[s]``).  Record ends are found in the written bytes with the
    separator; every file gets the header lines on top.
    """

    def __init__(self, outputs: Sequence[ShardFile], sep: bytes, limits: list[int] | None = None) -> None:
        self.outputs = list(outputs)
        self.framer = core.StreamFramer(sep)
        self.limits = limits
        self.current = 0
        self.done = 0  # records written so far

    @classmethod
    def from_pattern(cls, pattern: str, shards: int, sep: bytes, trim: bytes = b"") -> ShardedOutput:
        """Shards named by ``pattern`` (see :func:`shard_names`), compressed by their names."""
        if shards < 1:
            raise ShufBigError(f"invalid number of shards: {shards}")
        if pattern == "-":
            raise ShufBigError("--shards needs -o PATTERN naming the shard files")
        return cls([Output(name, compression_of(name), trim=trim) for name in shard_names(pattern, shards)], sep)

    def set_header(self, header: bytes) -> None:
        for out in self.outputs:
            out.preamble = header

    def open(self) -> None:
        self.outputs[0].open()

    def expect(self, nrecords: int) -> None:
        k = len(self.outputs)
        self.limits = [(s + 1) * nrecords // k for s in range(k)]

    def write(self, parts: list[memoryview]) -> int:
        if self.limits is None:
            raise AssertionError("ShardedOutput.write before expect()")
        total = 0
        for part in parts:
            total += len(part)
            ends = self.framer.feed(np.frombuffer(part, dtype=np.uint8))
            at = used = 0
            while self.current < len(self.outputs) - 1 and self.done + len(ends) - used >= self.limits[self.current]:
                take = self.limits[self.current] - self.done
                cut = int(ends[used + take - 1]) if take else at
                if cut > at:
                    self.outputs[self.current].write([part[at:cut]])
                at, used = cut, used + take
                self.done += take
                self.current += 1
                self.outputs[self.current].open()
            if at < len(part):
                self.outputs[self.current].write([part[at:]])
            self.done += len(ends) - used
        return total

    def commit(self) -> None:
        for out in self.outputs[self.current + 1 :]:
            out.open()  # a shard with no records still gets its file
        for out in self.outputs:
            out.commit()

    def discard(self) -> None:
        for out in self.outputs:
            out.discard()


def open_output(path: str, shards: int | None, sep: bytes, trim: bytes = b"") -> Output | ShardedOutput:
    """The destination for ``-o path`` (compressed by its extension), sharded if asked."""
    if shards is not None:
        return ShardedOutput.from_pattern(path, shards, sep, trim)
    return Output(path, None if path == "-" else compression_of(path), trim=trim)
