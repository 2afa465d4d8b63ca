"""The API's arguments resolved once into a :class:`~shuf_big.job.Job`: defaults and checks
from the declaration (:mod:`shuf_big.options.declared`), then each argument turned into what
every engine takes (the plan from the budget, the key function from the seed, the paths)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from typing import IO, Any

from shuf_big import core
from shuf_big.budget.memory import MemoryLimit, available_memory
from shuf_big.budget.plan import Plan, default_jobs
from shuf_big.budget.sizes import format_size, parse_size
from shuf_big.engines.preflight import read_files_from
from shuf_big.errors import MemoryLimitWarning, ShufBigError, UsageError, describe
from shuf_big.files.compression import Codec, check_format, codec_for, compression_of
from shuf_big.files.records import read_fully
from shuf_big.job import Job, Separator
from shuf_big.options.declared import API_OPTIONS, BY_NAME
from shuf_big.options.gnu import check_conflicts, check_repeats, parse_input_range
from shuf_big.storage.urls import StorageOptions, expand, has_glob, is_url, local_path
from shuf_big.system.mounts import default_temp_dirs

PathLike = str | os.PathLike[str]
# A path, or a binary file object (src readable, dst writable).
Where = str | os.PathLike[str] | IO[bytes]

# --random-source: the seed is the 8-byte BLAKE2b digest of at most this many first bytes.
RANDOM_SOURCE_BYTES = 32


def resolve(
    src: Where | Sequence[Where] = "-", dst: Where | Sequence[Where] = "-", *, held_pieces: int = 0, **options: Any
) -> Job:
    """Validate and normalise :func:`shuf_big.shuffle`'s arguments into one :class:`Job`.

    ``options`` are its keyword arguments (any left out take their declared defaults);
    ``held_pieces`` is what a consumer outside the engine holds (``iter_shuffled``).
    """
    values = _with_defaults(src, dst, options)
    limit = available_memory()  # the base of N% and of the default
    try:
        budget = parse_size(values["mem"], limit.nbytes)
    except ValueError as err:
        raise ShufBigError(f"invalid --mem: {err}") from None
    storage = StorageOptions.parse(values["storage_options"])
    outputs = tuple(_local(path) for path in _paths(values["dst"]))
    check_repeats(outputs, values["aligned"], (), 0)
    outputs = outputs if values["aligned"] else outputs[-1:]
    codecs = _codecs(outputs, values["compress_level"])
    jobs = default_jobs() if values["jobs"] is None else values["jobs"]
    inputs, origins = _inputs(values["src"], values["files_from"], storage)
    remote = (any(is_url(p) for p in inputs), any(is_url(p) for p in outputs))
    plan = Plan.for_budget(
        budget, jobs, held_pieces=held_pieces, codecs=codecs, remote=remote, compress_temp=values["compress_temp"]
    )
    given = {name: values[name] is not None for name in ("echo", "input_range", "random_source", "seed")}
    check_conflicts(given["echo"], given["input_range"], given["random_source"], given["seed"], (), False)
    numbers = _range(values["input_range"])
    spec = _seed(values["seed"], values["random_source"], values["head_count"])
    dirs = _temp_dirs(values["tmp_dirs"])
    for option in API_OPTIONS:
        if option.check is not None and not option.check(values[option.name]):
            raise ShufBigError(option.invalid.format(value=values[option.name]))
    if values["decompress"] is not None:
        check_format(values["decompress"])
    if values["scheduler"] is None:  # a remote cluster's workers have limits of their own
        _warn_above(budget, limit)
    echo = values["echo"]
    resolved: dict[str, Any] = {
        "inputs": inputs,
        "outputs": outputs,
        "sep": Separator.of(values["zero_terminated"], values["record_separator"]),
        "spec": spec,
        "plan": plan,
        "temp_dirs": dirs,
        "echo": None if echo is None else tuple(os.fsencode(op) if isinstance(op, str) else bytes(op) for op in echo),
        "input_range": numbers,
        "origins": origins,
        "storage_options": storage,
    }
    # The rest of the job's fields are options taken as they are (header, shards, engine...).
    same = {field.name: values[field.name] for field in dataclasses.fields(Job) if field.name not in resolved}
    return Job(**resolved, **same)


def _with_defaults(src: object, dst: object, options: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: the ones given, else their defaults."""
    for name in options:
        if name not in BY_NAME or name in ("src", "dst") or BY_NAME[name].cli_only:
            raise TypeError(f"shuffle() got an unexpected keyword argument '{name}'")
    values = {option.name: option.default for option in API_OPTIONS}
    values.update(options, src=src, dst=dst)
    return values


def _inputs(
    src: Where | Sequence[Where], files_from: PathLike | None, storage: StorageOptions
) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """The inputs, and for each the ``--files-from`` line it was listed on (none for
    operands): URL globs expanded, ``file://`` URLs as local paths."""
    inputs: tuple[Any, ...] = _paths(src)
    origins: tuple[str, ...] = ()
    if files_from is not None:
        if inputs != ("-",):
            raise UsageError("file operands cannot be combined with --files-from")
        listed = read_files_from(os.fspath(files_from))
        inputs, origins = tuple(entry.path for entry in listed), tuple(entry.origin for entry in listed)
    if any(has_glob(p) for p in inputs if isinstance(p, str)):
        expanded, found_origins = expand(inputs, origins, storage)
        inputs, origins = tuple(expanded), tuple(found_origins)
    return tuple(_local(p) for p in inputs), origins


def _local(path: Any) -> Any:
    """A ``file://`` URL as the local path it names (read and written as any local file)."""
    return (local_path(path) or path) if isinstance(path, str) else path


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
