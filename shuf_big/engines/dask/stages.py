"""The driver's side of the Dask engine's stages: which tasks to submit, with what, and
how the outputs get their bytes.

Reduce tasks write their buckets where the bytes belong, so no byte is read back to
assemble an output: a single plain output file on the driver's host (a local cluster) as
byte ranges of its temp file, a single plain object on S3 as the parts of one multipart
upload.  Only sharded or compressed outputs (whose pieces' sizes are known only once
written), other stores, and local files written by a remote cluster go through pieces that
a last stage concatenates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shuf_big.engines.dask.reduce import reduce_buckets
from shuf_big.engines.dask.spills import NBYTES, RECORDS
from shuf_big.engines.dask.tasks import Settings, concat_output, copy_pieces, header_bytes
from shuf_big.files.compression import Codec
from shuf_big.files.outputs import Output
from shuf_big.files.shards import ShardFile
from shuf_big.storage.objects import AtomicFile
from shuf_big.storage.parts import FileRange, SharedUpload
from shuf_big.storage.urls import S3_PROTOCOLS, filesystem, protocol_of
from shuf_big.storage.writing import MIN_PART, PLANNED_PARTS

# submit(stage name, task function, [(key, args)]) -> the tasks' results in order
Submit = Callable[[str, Callable[..., Any], list[tuple[str, tuple[Any, ...]]]], list[Any]]
# A reduce task's arguments but the spill list and settings: its buckets' rows, files, limits.
Reduce = tuple[list[np.ndarray], list[ShardFile], list[int]]


class Pending(Protocol):
    """An output the stages filled, made visible only when every output is complete."""

    def commit(self) -> None: ...
    def discard(self) -> None: ...


@dataclass
class MovedFile:
    """A concatenated output under a temporary name beside its final one."""

    fs: Any
    temp: str
    path: str

    def commit(self) -> None:
        self.fs.mv(self.temp, self.path)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(self.temp)


@dataclass
class Parts:
    """A multipart upload whose parts the reduce tasks sent."""

    upload: SharedUpload
    parts: list[dict[str, Any]]
    empty: bytes  # the object when there are no parts (the header of no records)

    def commit(self) -> None:
        self.upload.complete(sorted(self.parts, key=lambda p: p["PartNumber"]), self.empty)

    def discard(self) -> None:
        self.upload.abort()


def piece_limits(counts: list[int], outputs: int) -> list[tuple[int, list[int]]]:
    """For each bucket of ``counts`` records (in key order): the first output its records
    go to, and after which of its records each of its pieces ends.

    Output ``s`` gets records ``[s * n // K, (s + 1) * n // K)`` of the whole shuffle, as
    the local engine's ``--shards``; a bucket spanning several outputs writes one piece each.
    """
    total = sum(counts)
    ends = [(s + 1) * total // outputs for s in range(outputs)]
    out = []
    done = 0
    for n in counts:
        first = int(np.searchsorted(ends, done, side="right"))
        last = int(np.searchsorted(ends, done + n - 1, side="right"))
        out.append((first, [min(ends[s], done + n) - done for s in range(first, last + 1)]))
        done += n
    return out


def part_groups(sizes: list[int]) -> list[list[int]]:
    """Consecutive buckets (by index) in groups of at least an upload's smallest part
    (the last may be smaller), and few enough for the upload's 10,000 parts."""
    least = max(MIN_PART, -(-sum(sizes) // PLANNED_PARTS))
    groups: list[list[int]] = [[]]
    filled = 0
    for i, size in enumerate(sizes):
        if filled >= least:
            groups.append([])
            filled = 0
        groups[-1].append(i)
        filled += size
    return groups if groups[0] else []


@dataclass
class Outputs:
    """The run's outputs and how they are written: ``outputs`` are :class:`Output` files
    this process holds or URLs; ``local`` says whether the workers run on this host."""

    outputs: list[Output | str]
    compress: list[Codec | None]
    header: bytes
    local: bool
    uploaded: Parts | None = None
    pieces: list[list[str]] | None = None

    def direct(self) -> str | None:
        """How one plain output is written in place: "range" or "parts" (else None)."""
        if len(self.outputs) != 1 or self.compress[0] is not None:
            return None
        out = self.outputs[0]
        if isinstance(out, Output):
            return "range" if self.local and out.shared_path() is not None else None
        return "parts" if protocol_of(out) in S3_PROTOCOLS else None

    def reduces(self, rows: list[np.ndarray], settings: Settings, pending: list[Pending]) -> list[Reduce]:
        """The reduce tasks for the buckets of ``rows`` (in key order); an upload they fill
        is added to ``pending``."""
        sizes = [int(r[:, NBYTES].sum()) for r in rows]
        counts = [int(r[:, RECORDS].sum()) for r in rows]
        mode = self.direct()
        if mode == "range":
            out = self.outputs[0]
            assert isinstance(out, Output)
            path = out.shared_path()
            assert path is not None
            out.write([memoryview(self.header)])
            offsets = np.cumsum([len(self.header), *sizes]).tolist()
            return [([r], [FileRange(path, offsets[b], sizes[b], out.name)], [counts[b]]) for b, r in enumerate(rows)]
        if mode == "parts":
            upload = SharedUpload(str(self.outputs[0]), settings.storage)
            self.uploaded = Parts(upload, [], self.header)
            pending.append(self.uploaded)
            groups = part_groups(sizes)
            if groups:
                upload.start()
            return [
                (
                    [rows[b] for b in group],
                    [upload.part(k + 1, self.header if k == 0 else b"")],
                    [sum(counts[b] for b in group)],
                )
                for k, group in enumerate(groups)
            ]
        return self._pieces(rows, counts, settings)

    def _pieces(self, rows: list[np.ndarray], counts: list[int], settings: Settings) -> list[Reduce]:
        pieces: list[list[str]] = [[] for _ in self.outputs]
        self.pieces = pieces
        calls: list[Reduce] = []
        for b, (first, limits) in enumerate(piece_limits(counts, len(self.outputs))):
            urls = [f"{settings.run}/piece-{b:05x}-{first + p:05d}" for p in range(len(limits))]
            for p, url in enumerate(urls):
                pieces[first + p].append(url)
            codec = self.compress[first]
            files: list[ShardFile] = [
                AtomicFile(url, settings.storage, codec.encoder if codec else None) for url in urls
            ]
            calls.append(([rows[b]], files, limits))
        return calls

    def assemble(self, submit: Submit, settings: Settings, parts: list[Any], pending: list[Pending]) -> None:
        """After the reduce stage: the upload's ``parts`` noted, or the pieces (if any)
        concatenated into each output."""
        if self.uploaded is not None:
            self.uploaded.parts = parts
        pieces = self.pieces
        if pieces is None:
            return
        remote = [(s, o) for s, o in enumerate(self.outputs) if isinstance(o, str)]
        calls = [(str(s), (o, self.header, pieces[s], self.compress[s], settings.storage)) for s, o in remote]
        written = submit("write", concat_output, calls)
        for (_, url), temp in zip(remote, written, strict=True):
            fs, path = filesystem(url, settings.storage)
            pending.append(MovedFile(fs, temp, path))
        for s, out in enumerate(self.outputs):
            if isinstance(out, Output):
                out.write([memoryview(header_bytes(self.header, self.compress[s], not pieces[s]))])
                copy_pieces(pieces[s], out.write, settings.storage)


def run_reduces(submit: Submit, spills: list[str], calls: list[Reduce], settings: Settings) -> list[dict[str, Any]]:
    """The reduce stage; returns the upload parts its tasks sent."""
    tasks = [(str(k), (rows, spills, files, limits, settings)) for k, (rows, files, limits) in enumerate(calls)]
    results = submit("order", reduce_buckets, tasks)
    return [part for result in results for part in result]
