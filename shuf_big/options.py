"""Options resolved once into a :class:`~shuf_big.job.Job`, and GNU shuf's option checks.

The CLI and the API both end here: :func:`check_repeats` and :func:`check_conflicts` are
the one definition of which options clash (the CLI calls them in GNU's order while it
parses), and :func:`resolve` turns the API's arguments into the job every engine takes.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from typing import IO

from shuf_big import core
from shuf_big.budget.memory import MemoryLimit, available_memory
from shuf_big.budget.plan import Plan, default_jobs
from shuf_big.budget.sizes import DEFAULT_MEM, format_size, parse_size
from shuf_big.engines.preflight import read_files_from
from shuf_big.errors import MemoryLimitWarning, ShufBigError, UsageError, describe
from shuf_big.files.compression import Codec, check_format, codec_for, compression_of
from shuf_big.files.records import read_fully
from shuf_big.job import Job, Separator
from shuf_big.system.mounts import default_temp_dirs

PathLike = str | os.PathLike[str]
# A path, or a binary file object (src readable, dst writable).
Where = str | os.PathLike[str] | IO[bytes]

# --random-source: the seed is the 8-byte BLAKE2b digest of at most this many first bytes.
RANDOM_SOURCE_BYTES = 32


RANGE_MAX = core.MASK64


# GNU's xstrtoumax in base 10 (leading white space, an optional '+').
_DECIMAL = re.compile(r"[ \t\n\v\f\r]*\+?([0-9]+)")


def _parse_bound(text: str) -> int:
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid input range: '{text}'")
    value = int(match.group(1))
    if value > RANGE_MAX:
        raise ShufBigError(f"invalid input range: '{text}': Value too large for defined data type")
    return value


def parse_count(text: str) -> int:
    """Parse ``-n COUNT`` as GNU shuf does (base 10, leading white space and '+' allowed).

    Counts beyond 2**64-1, which GNU shuf takes as "no limit", stay exact Python ints.
    """
    match = _DECIMAL.fullmatch(text)
    if not match:
        raise ShufBigError(f"invalid line count: '{text}'")
    return int(match.group(1))


def parse_input_range(text: str) -> tuple[int, int]:
    """Parse ``-i LO-HI`` as GNU shuf does; ``HI = LO - 1`` is an empty range.

    Unlike GNU shuf (whose line count must fit in 64 bits), ``0-18446744073709551615``
    is accepted: its 2**64 numbers can be sampled with ``-n`` or ``-r``.
    """
    lo_text, dash, hi_text = text.partition("-")
    if not dash:
        _parse_bound(text)
        raise ShufBigError(f"invalid input range: '{text}'")
    lo = _parse_bound(lo_text)
    hi = _parse_bound(hi_text)
    if lo > hi + 1:
        raise ShufBigError(f"invalid input range: '{text}'")
    return lo, hi


def seed_from_random_source(path: str | os.PathLike[str]) -> int:
    """The 64-bit seed ``--random-source=FILE`` stands for.

    The output depends only on FILE's first 32 bytes (fewer if it is shorter; never more
    are read, so ``/dev/urandom`` or an endless pipe works): the seed is their BLAKE2b
    digest with ``digest_size=8``, read as a big-endian integer.  An empty FILE is an
    error, as GNU shuf's "end of file".
    """
    import hashlib  # only here: loading it costs every other run a few milliseconds

    name = os.fspath(path)
    try:
        handle = open(name, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except IsADirectoryError as err:
        raise ShufBigError(f"'{name}': read error: {describe(err)}") from None
    except OSError as err:
        raise ShufBigError(f"{name}: {describe(err)}") from None
    with handle:
        data = bytearray(RANDOM_SOURCE_BYTES)
        got = read_fully(handle, memoryview(data), f"'{name}'")
    if got == 0:
        raise ShufBigError(f"'{name}': end of file")
    return int.from_bytes(hashlib.blake2b(bytes(data[:got]), digest_size=8).digest(), "big")


def parse_seed(text: str) -> int:
    """``--seed``: decimal (leading zeros allowed) or ``0x``/``0o``/``0b``-prefixed."""
    try:
        if text.lower().lstrip("+").startswith(("0x", "0o", "0b")):
            return int(text, 0)
        return int(text, 10)
    except ValueError:
        raise ShufBigError(f"invalid --seed: '{text}'") from None


def check_repeats(outputs: Sequence[object], aligned: bool, random_sources: Sequence[str], input_ranges: int) -> None:
    """Options given twice, as GNU shuf's parser meets them (a repeated identical ``-o``
    is one output; ``--aligned`` takes one ``-o`` per input)."""
    if len(set(outputs)) > 1 and not aligned:
        raise ShufBigError("multiple output files specified")
    if len(set(random_sources)) > 1:
        raise ShufBigError("multiple random sources specified")
    if input_ranges > 1:
        raise ShufBigError("multiple -i options specified")


def check_conflicts(
    echo: bool, input_range: bool, random_source: bool, seed: bool, operands: Sequence[str], files_from: bool
) -> None:
    """Options that exclude each other, checked once all are parsed (GNU's order)."""
    if echo and input_range:
        raise UsageError("cannot combine -e and -i options")
    if random_source and seed:
        raise UsageError("cannot combine --random-source and --seed options")
    if input_range and operands:
        raise UsageError(f"extra operand '{operands[0]}'")
    if files_from and operands:
        raise UsageError("file operands cannot be combined with --files-from")


def _is_file(obj: object) -> bool:
    return hasattr(obj, "read") or hasattr(obj, "write")


def _paths(where: Where | Sequence[Where]) -> tuple[str | IO[bytes], ...]:
    """Paths as ``str``; binary file objects (the API's) kept as they are."""
    if isinstance(where, (str, os.PathLike)):
        return (os.fspath(where),)
    if _is_file(where):
        return (where,)  # type: ignore[return-value]
    return tuple(p if _is_file(p) else os.fspath(p) for p in where)  # type: ignore[arg-type,misc]


def _range(input_range: tuple[int, int] | str | None) -> tuple[int, int] | None:
    if isinstance(input_range, str):
        return parse_input_range(input_range)
    if input_range is not None and not 0 <= input_range[0] <= input_range[1] + 1 <= core.MASK64 + 1:
        raise ShufBigError(f"invalid input range: '{input_range[0]}-{input_range[1]}'")
    return input_range


def _seed(seed: int | None, random_source: PathLike | None, head_count: int | None) -> core.KeySpec:
    if random_source is not None and head_count != 0:  # as GNU shuf: -n 0 opens nothing
        seed = seed_from_random_source(random_source)
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "big")  # as secrets.randbits(64), without importing it
    try:
        return core.KeySpec.from_seed(int(seed))
    except ValueError as err:
        raise ShufBigError(f"invalid --seed: {err}") from None


def _warn_above(budget: int, limit: MemoryLimit) -> None:
    """An explicit ``--mem`` above what this process may use is allowed, with a warning."""
    if budget > limit.nbytes:
        warnings.warn(
            MemoryLimitWarning(
                f"--mem {format_size(budget)} is more than the {format_size(limit.nbytes)} this process "
                f"may use ({limit.source}): the run may be killed"
            ),
            stacklevel=4,
        )


def _codecs(outputs: Sequence[str | IO[bytes]], level: int | None) -> list[Codec]:
    """The codec of each compressed output (a shard pattern's, by its name), at ``level``."""
    codecs = [
        codec_for(fmt, level, f"'{out}'")
        for out in outputs
        if isinstance(out, str) and out != "-" and (fmt := compression_of(out)) is not None
    ]
    if level is not None and not codecs:
        raise ShufBigError("--compress-level needs a compressed output: -o NAME.gz, .bz2, .xz or .zst")
    return codecs


def _temp_dirs(tmp_dirs: Sequence[PathLike] | None) -> tuple[str, ...]:
    dirs = tuple(os.fspath(d) for d in tmp_dirs) if tmp_dirs else tuple(default_temp_dirs())
    for d in dirs:
        if not os.path.isdir(d):
            raise ShufBigError(f"cannot use temporary directory '{d}': No such directory")
    return dirs


def resolve(
    src: Where | Sequence[Where] = "-",
    dst: Where | Sequence[Where] = "-",
    *,
    mem: int | str = DEFAULT_MEM,
    seed: int | None = None,
    tmp_dirs: Sequence[PathLike] | None = None,
    jobs: int | None = None,
    zero_terminated: bool = False,
    record_separator: str | bytes | None = None,
    header: int = 0,
    decompress: str | None = None,
    compress_level: int | None = None,
    shards: int | None = None,
    aligned: bool = False,
    progress: bool = False,
    head_count: int | None = None,
    echo: Sequence[str | bytes] | None = None,
    input_range: tuple[int, int] | str | None = None,
    repeat: bool = False,
    random_source: PathLike | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    temp_url: str | None = None,
    quiet: bool = False,
    held_pieces: int = 0,
    files_from: PathLike | None = None,
) -> Job:
    """Validate and normalise :func:`shuf_big.shuffle`'s arguments into one :class:`Job`."""
    limit = available_memory()  # the base of N% and of the default
    try:
        budget = parse_size(mem, limit.nbytes)
    except ValueError as err:
        raise ShufBigError(f"invalid --mem: {err}") from None
    outputs = _paths(dst)
    check_repeats(outputs, aligned, (), 0)
    outputs = outputs if aligned else outputs[-1:]
    codecs = _codecs(outputs, compress_level)
    plan = Plan.for_budget(
        budget, jobs=default_jobs() if jobs is None else jobs, held_pieces=held_pieces, codecs=codecs
    )
    check_conflicts(echo is not None, input_range is not None, random_source is not None, seed is not None, (), False)
    numbers = _range(input_range)
    spec = _seed(seed, random_source, head_count)
    dirs = _temp_dirs(tmp_dirs)
    if head_count is not None and head_count < 0:
        raise ShufBigError(f"invalid line count: '{head_count}'")
    if header < 0:
        raise ShufBigError(f"invalid --header: {header}")
    if shards is not None and shards < 1:
        raise ShufBigError(f"invalid number of shards: {shards}")
    if decompress is not None:
        check_format(decompress)
    if engine not in ("local", "dask"):
        raise ShufBigError(f"unknown engine '{engine}' (use local or dask)")
    if scheduler is None:  # a remote cluster's workers have limits of their own
        _warn_above(budget, limit)
    inputs = _paths(src)
    origins: tuple[str, ...] = ()
    if files_from is not None:
        if inputs != ("-",):
            raise UsageError("file operands cannot be combined with --files-from")
        listed = read_files_from(os.fspath(files_from))
        inputs = tuple(entry.path for entry in listed)
        origins = tuple(entry.origin for entry in listed)
    return Job(
        inputs=inputs,
        outputs=outputs,
        sep=Separator.of(zero_terminated, record_separator),
        spec=spec,
        plan=plan,
        temp_dirs=dirs,
        header=header,
        decompress=decompress,
        compress_level=compress_level,
        shards=shards,
        aligned=aligned,
        head_count=head_count,
        echo=None if echo is None else tuple(os.fsencode(op) if isinstance(op, str) else bytes(op) for op in echo),
        input_range=numbers,
        repeat=repeat,
        engine=engine,
        scheduler=scheduler,
        temp_url=temp_url,
        progress=progress,
        quiet=quiet,
        origins=origins,
    )
