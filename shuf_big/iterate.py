"""``iter_shuffled``: the shuffled records as a Python iterator, from the same engines.

The engine runs in a thread and writes into a bounded queue of chunks (a writable "file"
given as ``dst``); the iterator cuts the chunks into records.  Closing the iterator (or
dropping it) makes the engine's next write fail, so it stops and removes its temp files
as on any error; the iterator waits for that before returning.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from shuf_big.api import run
from shuf_big.errors import ShufBigError
from shuf_big.options.resolve import Where, resolve
from shuf_big.options.wording import for_api

# Chunks in flight between the engine and the iterator, each at most one of the plan's
# pieces; with the chunk being cut and the partial record before it, the iterator holds
# HELD_PIECES pieces, which the plan charges to the budget.
QUEUE_CHUNKS = 2
HELD_PIECES = QUEUE_CHUNKS + 3
_END = object()


class _Stopped(Exception):
    """Raised inside the engine's write once the iterator is closed: the run stops and cleans up."""


class _Chunks:
    """A writable binary file whose writes become chunks in a bounded queue."""

    def __init__(self) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.closed = threading.Event()
        self.chunk = 1 << 20  # set to the plan's piece once the job is resolved

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), self.chunk):
            if self.closed.is_set():
                raise _Stopped
            self.queue.put(bytes(view[start : start + self.chunk]))  # the engine reuses its buffers
        return len(view)

    def put(self, item: object) -> None:
        self.queue.put(item)

    def drain(self) -> None:
        """Empty the queue so a blocked write or the final put can go on."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()


def iter_shuffled(src: Where | Sequence[Where] = "-", **options: Any) -> Iterator[bytes]:
    """Yield the records of ``src`` shuffled, each as ``bytes`` with its separator, in
    exactly the order :func:`shuf_big.shuffle` would write them (``b"".join`` of the
    records is the output file's bytes), within the same ``mem`` budget.

    ``options`` are :func:`shuf_big.shuffle`'s keyword arguments except ``dst``,
    ``shards`` and ``aligned``.  Errors in the arguments are raised at once; errors of
    the run, when the iterator reaches them.  Temp files are removed when the iterator
    ends, is closed, or is garbage-collected.
    """
    for name in ("dst", "shards", "aligned"):
        if name in options:
            raise TypeError(f"iter_shuffled() does not take {name}=")
    sink = _Chunks()
    try:
        job = resolve(src, sink, held_pieces=HELD_PIECES, **options)  # type: ignore[arg-type]
    except ShufBigError as err:
        raise for_api(err) from None
    sink.chunk = job.plan.piece
    return _records(job.sep.token, sink, lambda: run(job))


def _records(sep: bytes, sink: _Chunks, work: Any) -> Iterator[bytes]:
    def produce() -> None:
        try:
            work()
            sink.put(_END)
        except _Stopped:
            pass
        except BaseException as err:
            sink.put(err)

    thread = threading.Thread(target=produce, name="shuf-big-iter", daemon=True)
    thread.start()
    pending = b""
    try:
        while True:
            item = sink.queue.get()
            if item is _END:
                break
            if isinstance(item, ShufBigError):
                raise for_api(item) from None
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            pieces = (pending + item).split(sep)
            pending = pieces.pop()
            for piece in pieces:
                yield piece + sep
        if pending:
            yield pending  # paragraph mode's last document ends with one newline
    finally:
        sink.closed.set()
        while thread.is_alive():
            sink.drain()
            thread.join(0.05)
