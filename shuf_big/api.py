"""The library's entry point: :func:`shuffle` resolves its arguments and runs an engine.

resolve the options into one Job  ->  pick the engine  ->  refuse what it lacks  ->  engine.check  ->  engine.run
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shuf_big.budget.sizes import DEFAULT_MEM
from shuf_big.errors import ShufBigError
from shuf_big.job import Engine, Job, Result
from shuf_big.options.features import refuse
from shuf_big.options.resolve import Where, resolve
from shuf_big.options.wording import for_api
from shuf_big.system.peak import PeakMemory


def shuffle(
    src: Where | Sequence[Where] = "-",
    dst: Where | Sequence[Where] = "-",
    *,
    echo: Sequence[str | bytes] | None = None,
    input_range: tuple[int, int] | str | None = None,
    head_count: int | None = None,
    files_from: str | os.PathLike[str] | None = None,
    decompress: str | None = None,
    compress_level: int | None = None,
    compress_temp: str = "auto",
    header: int = 0,
    record_separator: str | bytes | None = None,
    shards: int | None = None,
    aligned: bool = False,
    random_source: str | os.PathLike[str] | None = None,
    repeat: bool = False,
    mem: int | str = DEFAULT_MEM,
    seed: int | None = None,
    tmp_dirs: list[str] | None = None,
    zero_terminated: bool = False,
    jobs: int | None = None,
    progress: bool = False,
    quiet: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
    temp_url: str | None = None,
    storage_options: Mapping[str, Any] | Sequence[str] | None = None,
) -> Result:
    """Shuffle the records of ``src`` into ``dst`` in a uniformly random order.

    Returns a :class:`~shuf_big.job.Result`: the ``seed`` (to rerun an unseeded shuffle),
    ``records`` and ``bytes`` written, ``records_in``/``bytes_in``, ``shard_records``,
    the ``path`` taken, ``buckets``, ``splits``, ``temp_bytes``, ``temp_compressed``,
    ``temp_plain``, ``temp_dirs``, ``downloaded``, ``uploaded``, ``mem``,
    ``peak_memory`` (the run's own peak RSS, see :mod:`shuf_big.system.peak`), ``seconds``.

    Parameters
    ----------
    src : path, ``"-"``, readable binary file object, or a list of them
        Input(s); ``"-"`` is stdin.  Several inputs are shuffled together as one corpus.
        A file object is read from its position once, never closed (shuffled like a stream).
        ``.gz``, ``.bz2``, ``.xz`` and ``.zst`` files are decompressed.
    dst : path, ``"-"`` or writable binary file object (a list of them with ``aligned``)
        Output, replaced atomically (it may be the same file as ``src``) and compressed
        by its extension.  With ``shards``, a pattern such as
        ``"train-{shard:05d}-of-{shards:05d}.jsonl.gz"``.
    echo : sequence of str or bytes, optional
        GNU ``shuf -e``: these are the records (``src`` is ignored).  ``str`` operands are
        encoded with :func:`os.fsencode`.
    input_range : (lo, hi) or "LO-HI", optional
        GNU ``shuf -i``: the records are the decimal numbers ``lo..hi`` (0 to 2**64-1;
        ``hi = lo - 1`` is empty); record ``i`` is ``lo + i``.  Generated in bounded
        chunks, never materialised; with ``head_count`` below the range's size the first
        lines are found from the inverse of the key function when that is cheaper than
        enumerating the range, so ``-n 3`` on a 2**64-number range is instant.
    head_count : int, optional
        Write at most this many records: exactly the first ones of the full shuffle with
        the same seed, found in one streaming pass in memory for about twice that many
        records, with no temp files (GNU ``shuf -n``).  0 does not open ``src`` (nor
        ``random_source``).  With ``repeat``: the number of draws.
    files_from : path, optional
        A file (``"-"``: stdin) listing the inputs, one path per line (blank lines
        skipped), instead of ``src``.  Every input is checked before the run; errors name
        the list's line (``shards.txt:12: cannot open 'x.gz': ...``).
    decompress : {"gzip", "bz2", "xz", "zstd"}, optional
        Decompress every input with this format, whatever its name (for stdin).
    compress_level : int, optional
        Compression level of compressed outputs: gzip 1-9 (default 2: about 12% larger
        than ``gzip -6``, several times faster; 1-3 by ISA-L with the ``shuf-big[fast]``
        extra), zstd 1-22 (default 1: about 9% larger than ``gzip -6``; 3 is zstd's
        usual), bz2 1-9 (default 9), xz 0-9 (default 6).  An error without a compressed
        output.  Outputs are written as independent blocks compressed on all ``jobs``
        (gzip members, zstd frames: one valid file).
    compress_temp : {"auto", "always", "never"}
        Compress the external shuffle's temp files with zstd: ``"auto"`` only when the temp
        directories lack the free space a plain run needs (an estimate from the first
        chunk of input must then fit, else the run fails at once), ``"always"``, or
        ``"never"``.  The output is the same bytes in every mode.
    header : int
        The first ``header`` records stay on top, unshuffled (on top of every shard):
        those of the first input that has that many.  Every other input must start with
        the same records (they are dropped), else the run fails with nothing written.
    record_separator : str or bytes, optional
        Records end with this string instead (several bytes allowed); ``""`` means
        documents separated by blank lines, written with one blank line between them.
    shards : int, optional
        Write this many files of near-equal record counts, named by the ``dst`` pattern.
    aligned : bool
        ``src`` and ``dst`` are lists of equal length whose inputs correspond record by
        record (parallel corpora): every input gets the same permutation.  Record counts
        must agree; this is checked before anything is written.
    random_source : path, optional
        GNU ``shuf --random-source``: the seed is the BLAKE2b (``digest_size=8``, big-endian)
        digest of at most the first 32 bytes of this file; an empty file is an error.
        Exclusive with ``seed``.
    repeat : bool
        GNU ``shuf -r``: write ``head_count`` records (endlessly if None) each drawn
        independently and uniformly with replacement, from a counter-based stream of the
        seed.  File or stdin records must all fit ``mem``; ``-i`` ranges are never
        materialised.  No records is an error ("no lines to repeat").
    mem : int or str
        Memory budget for the whole run: bytes or a size like ``"4G"``, ``"512M"``,
        ``"25%"`` (of the memory this process may use: the least of physical RAM, its
        cgroup limit and its ``RLIMIT_AS``/``RLIMIT_DATA``; a larger size draws a
        :class:`~shuf_big.errors.MemoryLimitWarning`).  Inputs that fit are shuffled in
        memory; larger ones go through temp files in ``tmp_dirs``.
    seed : int, optional
        0 to 2**64-1.  The same seed gives the same output bytes whatever ``mem``,
        ``jobs`` or ``tmp_dirs``; None draws one from the operating system.
    tmp_dirs : list of str, optional
        Where bucket files go (spread over all of them); default ``$TMPDIR``, else the
        system temp dir, or ``/var/tmp`` when that is in RAM (tmpfs).  Temp files in RAM
        draw a :class:`~shuf_big.errors.RamTempWarning`.
    zero_terminated : bool
        Records end with NUL instead of newline.
    jobs : int, optional
        Worker threads (default: the CPUs available).  The budget is shared by all of
        them, and the output does not depend on their number.
    progress : bool
        Show a tqdm bar on stderr.
    quiet : bool
        Do not print the Dask dashboard's address when a ``LocalCluster`` starts.
    engine : {"local", "dask"}
        ``"dask"`` runs the same shuffle as tasks on a Dask cluster (extra
        ``shuf-big[dask]``); ``src``, ``dst`` and ``temp_url`` may then be fsspec URLs
        (``s3://``, ``gs://``, ``memory://``...).  The output is the local engine's, byte
        for byte (compressed outputs: after decompression).  ``mem`` is per worker;
        ``jobs`` is the number of workers of the ``LocalCluster`` started when no
        ``scheduler`` is given.  Not with ``head_count``, ``echo``, ``input_range``,
        ``repeat``, ``aligned`` or paragraph mode.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); needs ``temp_url``.
    temp_url : str, optional
        Where the Dask engine's temp files go: storage every worker can reach (default:
        the first of ``tmp_dirs``, enough for a ``LocalCluster``).
    storage_options : mapping, optional
        Keyword arguments of the filesystems of URL inputs and outputs (``{"anon": True}``);
        a key ``"s3.endpoint_url"`` (or a mapping under ``"s3"``) applies to one protocol.
        Credentials and endpoints are also read from the environment, as fsspec does.

    Raises
    ------
    ShufBigError
        On any failure, with a one-line message naming this function's parameters
        (``mem=``); the destination is left untouched and temp files are removed.
    """
    arguments = dict(locals())  # exactly the parameters: the declaration's names (tests/test_options.py)
    try:
        return run(resolve(**arguments))
    except ShufBigError as err:
        raise for_api(err) from None


def engine_for(job: Job) -> Engine:
    """The engine that runs ``job``: Dask when asked, GNU shuf's modes for ``-e``/``-i``/``-r``.

    Each engine is imported when it is picked, so a run loads only its own (Dask never
    without ``engine="dask"``).
    """
    if job.engine == "dask":
        from shuf_big.engines.dask.engine import DaskEngine

        return DaskEngine()
    if job.generated:
        from shuf_big.engines.gnu import GnuEngine

        return GnuEngine()
    from shuf_big.engines.local.engine import LocalEngine

    return LocalEngine()


def run(job: Job) -> Result:
    """Check and run a resolved job with its engine: what it did, timed, with its own peak RSS."""
    start = time.monotonic()
    peak = PeakMemory()
    engine = engine_for(job)
    refuse(job, engine)
    engine.check(job)
    result = engine.run(job)
    result.seconds = time.monotonic() - start
    result.peak_memory = peak.peak()
    return result
