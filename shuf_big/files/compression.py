"""Compression formats: chosen by file name or ``--decompress``; outputs compressed in
independent blocks on all workers, inputs decompressed as streams.

gzip members, bzip2 streams and zstd frames each concatenate into one valid file (``gzip
-dc``, ``zstd -dc`` and Python's readers decode the whole series), so an output is cut into
blocks of a few MiB that worker threads compress at once and the writer appends in order:
the same bytes after decompression as one stream, at the speed of all cores.  xz stays one
stream on one thread: its strength is matches far back, which blocks would cut off.
With the ``fast`` extra (the ``isal`` package, ISA-L) gzip levels 1-3 are compressed and
gzip inputs decompressed several times faster than by the stdlib's zlib, which does the
same work when it is not installed.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from shuf_big.errors import ShufBigError, missing_extra
from shuf_big.files.formats import EXTENSIONS, FORMATS

# (lowest, highest, default) level of each format.  gzip's default 2 writes about 12% more
# than ``gzip -6`` (measured on the docs and sentences corpora: 11-13% by ISA-L, 13-14% by
# zlib) at 3-15 times its speed; zstd's default 1 writes 9% more than ``gzip -6`` (level 3:
# 10% less) at 2.7x level 3's speed; bzip2's and xz's are their command-line tools' defaults.
LEVELS = {"gzip": (1, 9, 2), "bz2": (1, 9, 9), "xz": (0, 9, 6), "zstd": (1, 22, 1)}
# gzip levels ISA-L compresses when it is installed (its own levels 1-3: sizes within a few
# percent of zlib's at the same level); zlib compresses levels 4-9.
ISAL_LEVELS = range(1, 4)
# The block each format would like: deflate looks back 32 KiB, so 1 MiB loses nothing;
# zstd from level 2 finds matches further back (level 3: 1.5% larger than one stream at
# 4 MiB, 7% at 1 MiB; level 1: 0.3%).  For xz, its presets' dictionary (4 MiB blocks
# would cost 37-65% in size on the docs and sentences corpora).
BLOCKS = {"gzip": 1 << 20, "bz2": 1 << 20, "zstd": 4 << 20}
XZ_DICTIONARIES = [1 << 18, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20]
MIN_BLOCK = 64 << 10
# How many first bytes :func:`sniff` looks at.
MAGIC_BYTES = 10
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
)
# bzip2: "BZh" and a block size digit, then a block's or the end-of-stream's magic.
_BZIP2_AFTER = (b"1AY&SY", b"\x17rE8P\x90")


def sniff(head: bytes) -> str | None:
    """The compression format whose magic bytes ``head`` starts with, if any.

    Used only to warn: an input is decompressed by its name or ``--decompress``, never by
    guessing from its content (as GNU tools).
    """
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if len(head) >= 10 and head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0":
        return "bz2" if head[4:10] in _BZIP2_AFTER else None
    return None


def check_format(fmt: str) -> None:
    """A compression format must be one of :data:`FORMATS`: the one message that names them."""
    if fmt not in FORMATS:
        raise ShufBigError(f"unknown compression format '{fmt}' (use one of: {', '.join(FORMATS)})")


def compression_of(path: str) -> str | None:
    """The compression format a file name asks for, by its extension (``None``: plain)."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


class Encoder(Protocol):
    def compress(self, data: memoryview) -> bytes: ...
    def flush(self) -> bytes: ...


# Work from a clone (the package directory) as well as from a package index.


def zstandard_module(action: str = "decompression") -> Any:
    """The ``zstandard`` package, or a one-line error that says how to install it."""
    try:
        import zstandard
    except ImportError:
        raise missing_extra(f"zstd {action} needs the 'zstandard' package", "zstd") from None
    return zstandard


def isal_zlib() -> Any:
    """ISA-L's zlib module when the ``fast`` extra is installed, else None (the stdlib is used)."""
    try:
        from isal import isal_zlib as module
    except ImportError:
        return None
    return module


@dataclass(frozen=True)
class Codec:
    """One compression format at one level: what an output's blocks are compressed with."""

    fmt: str
    level: int
    isal: bool = False  # gzip by ISA-L (the ``fast`` extra)

    @property
    def in_blocks(self) -> bool:
        """Whether outputs are compressed in independent blocks (all but xz)."""
        return self.fmt != "xz"

    def compress(self, data: memoryview) -> bytes:
        """``data`` as one self-contained gzip member, bzip2 stream or zstd frame.

        Runs on worker threads: every codec here releases the GIL while it compresses.
        """
        if self.fmt == "zstd":  # one-shot: the encoder's tables are sized to the block
            zstd = zstandard_module("compression").ZstdCompressor(level=self.level, write_content_size=False)
            return zstd.compress(data)
        if self.fmt == "bz2":
            return bz2.compress(data, self.level)
        encoder = self.encoder()
        return encoder.compress(data) + encoder.flush()

    def encoder(self, dictionary: int = 0) -> Encoder:
        """A streaming compressor: one stream of any length (xz's outputs, the Dask engine's
        pieces); an xz ``dictionary`` smaller than its preset's keeps it in the budget."""
        if self.fmt == "gzip":
            module = isal_zlib() if self.isal else None
            return (module or zlib).compressobj(self.level, zlib.DEFLATED, 31)
        if self.fmt == "bz2":
            return bz2.BZ2Compressor(self.level)
        if self.fmt == "xz":
            filters = [{"id": lzma.FILTER_LZMA2, "preset": self.level, "dict_size": dictionary or self.block}]
            return lzma.LZMACompressor(lzma.FORMAT_XZ, filters=filters)
        # No content size in the frame header: a reader that stops after one frame when it
        # knows the size (python-zstandard's ``decompress``) fails instead of truncating.
        zstandard = zstandard_module("compression")
        return zstandard.ZstdCompressor(level=self.level, write_content_size=False).compressobj()

    @property
    def block(self) -> int:
        """The block size this codec would like (zstd's level 1 gains nothing from more than
        1 MiB, its strong levels take ~18 MiB of tables per 1 MiB block and thread); xz's
        dictionary."""
        if self.fmt == "xz":
            return XZ_DICTIONARIES[self.level]
        return 1 << 20 if self.fmt == "zstd" and not 2 <= self.level <= 9 else BLOCKS[self.fmt]

    def block_for(self, mem: int) -> int:
        """The block size within a budget of ``mem`` bytes: :attr:`block`, less for small budgets."""
        return max(min(self.block, mem // 32), MIN_BLOCK)

    def memory(self, block: int, jobs: int, depth: int) -> int:
        """Bytes compressing ``block``-sized blocks on ``jobs`` threads, ``depth`` in flight,
        holds at most: those blocks, their compressed copies, the one being filled and each
        thread's encoder state.  xz: its one encoder, ~12x its dictionary ``block``."""
        if self.fmt == "xz":
            return 12 * block + (1 << 20)
        buffers = (depth + 1) * block + depth * (block + block // 8)
        if self.fmt == "gzip":
            state = 1 << 20  # zlib ~270 KiB, ISA-L level 3 ~1 MiB
        elif self.fmt == "bz2":
            state = 8 << 20  # bzip2 -9: 400 KiB + 8 x 900 KiB
        else:  # zstd sizes its tables to the block: ~1.3 MiB at level 3, ~18 MiB at 19-22 for 1 MiB
            params = zstandard_module("compression").ZstdCompressionParameters.from_level(self.level, source_size=block)
            state = params.estimated_compression_context_size()
        return buffers + min(jobs, depth) * state


def codec_for(fmt: str, level: int | None = None, what: str = "") -> Codec:
    """The codec of ``fmt`` at ``level`` (None: the format's default); a level the format
    does not have is an error naming the output ``what``."""
    check_format(fmt)
    lowest, highest, default = LEVELS[fmt]
    if level is None:
        level = default
    elif isinstance(level, bool) or not isinstance(level, int) or not lowest <= level <= highest:
        on = f" output {what}" if what else ""
        raise ShufBigError(f"invalid --compress-level {level} for {fmt}{on} (use {lowest} to {highest})")
    if fmt == "zstd":
        zstandard_module("compression")  # fail before any output is created
    return Codec(fmt, level, isal=fmt == "gzip" and level in ISAL_LEVELS and isal_zlib() is not None)


class BlockPipeline:
    """Compresses blocks on ``jobs`` threads (inline with one) and hands each result, in the
    order the blocks came, to the function that writes it.

    At most ``depth`` blocks are in flight, and their buffers are reused, so the memory held
    is what :meth:`Codec.memory` counts.  Several outputs (the shards of one run) may share a
    pipeline: each output's blocks still reach it in order.
    """

    def __init__(self, codec: Codec, block: int, jobs: int, depth: int) -> None:
        self.codec = codec
        self.block = block
        self.jobs = jobs
        self.depth = depth
        self.pool: ThreadPoolExecutor | None = None
        self.pending: deque[tuple[Future[bytes], bytearray, Callable[[bytes], object]]] = deque()
        self.free: list[bytearray] = []

    def buffer(self) -> bytearray:
        """An empty block buffer (a reused one when there is one)."""
        return self.free.pop() if self.free else bytearray(self.block)

    def submit(self, buffer: bytearray, size: int, write: Callable[[bytes], object]) -> None:
        """Compress ``buffer[:size]``, then ``write`` the result; ``buffer`` is taken back."""
        if self.jobs < 2:
            data = self.codec.compress(memoryview(buffer)[:size])
            self.free.append(buffer)
            write(data)
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="shuf-big-compress")
        while len(self.pending) >= self.depth:
            self._write_oldest()
        self.pending.append((self.pool.submit(self.codec.compress, memoryview(buffer)[:size]), buffer, write))

    def _write_oldest(self) -> None:
        future, buffer, write = self.pending.popleft()
        data = future.result()
        self.free.append(buffer)
        write(data)

    def drain(self) -> None:
        """Write every block still in flight, and stop the threads."""
        while self.pending:
            self._write_oldest()
        self.close()

    def close(self) -> None:
        """Drop what is in flight (a failed run) and stop the threads."""
        for future, _, _ in self.pending:
            future.cancel()
        self.pending.clear()
        self.free.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class Blocks:
    """One output's bytes cut into blocks for a (maybe shared) :class:`BlockPipeline`;
    ``write`` gets the compressed blocks, in order.  An xz output is one stream instead,
    compressed as it comes with a dictionary of the pipeline's block size."""

    def __init__(self, pipeline: BlockPipeline, write: Callable[[list[memoryview]], object]) -> None:
        self.pipeline = pipeline
        self.write_out = write
        self.block: bytearray | None = None  # the block being filled
        self.fill = 0
        self.count = 0  # blocks handed to the pipeline
        codec = pipeline.codec
        self.stream = None if codec.in_blocks else codec.encoder(pipeline.block)

    def write(self, parts: list[memoryview]) -> None:
        """Copy ``parts`` into blocks, handing every full one to the compressing threads."""
        if self.stream is not None:
            self.write_out([memoryview(self.stream.compress(part)) for part in parts])
            return
        for part in parts:
            at = 0
            while at < len(part):
                if self.block is None:
                    self.block = self.pipeline.buffer()
                n = min(len(part) - at, len(self.block) - self.fill)
                self.block[self.fill : self.fill + n] = part[at : at + n]
                self.fill += n
                at += n
                if self.fill == len(self.block):
                    self._submit()

    def finish(self) -> None:
        """Hand over the last block; an empty output still gets one (empty) member or frame."""
        if self.stream is not None:
            self.write_out([memoryview(self.stream.flush())])
            return
        if self.fill or not self.count:
            self._submit()

    def _submit(self) -> None:
        block = self.block if self.block is not None else self.pipeline.buffer()
        self.pipeline.submit(block, self.fill, self._write_block)
        self.block = None
        self.fill = 0
        self.count += 1

    def _write_block(self, data: bytes) -> None:
        self.write_out([memoryview(data)])


@dataclass(frozen=True)
class Compression:
    """How compressed outputs are written: the level asked for (None: each format's
    default), the block size (0: the format's own), the threads compressing blocks and
    how many blocks may be in flight (0: one more than the threads)."""

    level: int | None = None
    block: int = 0
    jobs: int = 1
    depth: int = 0

    def codec(self, fmt: str, what: str = "") -> Codec:
        return codec_for(fmt, self.level, what)

    def pipeline(self, codec: Codec) -> BlockPipeline:
        return BlockPipeline(codec, self.block or codec.block, self.jobs, self.depth or self.jobs + 1)


# Each format's default level, its own block size, one thread.
DEFAULT_COMPRESSION = Compression()
