"""The ``shuf-big`` command: parse options, call :func:`shuf_big.shuffle`, report errors.

Exit statuses follow GNU shuf: 0 on success, 1 on any error (usage errors included).
A run stopped by SIGINT, SIGTERM, SIGHUP or a closed output pipe cleans up and then dies by
that same signal, so the shell sees 130, 143, 129 or 141 as with any coreutils program.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import sys
import warnings
from typing import TYPE_CHECKING, Any, NoReturn

import click

from shuf_big import __version__
from shuf_big.budget.sizes import DEFAULT_MEM
from shuf_big.cli.getopt import GnuCommand
from shuf_big.errors import CompressedInputWarning, MemoryLimitWarning, RamTempWarning, ShufBigError, UsageError
from shuf_big.system.signals import Interrupted, install_signal_handlers

if TYPE_CHECKING:
    from shuf_big.job import Result

PROG = "shuf-big"

EPILOG = """\b
Examples:
  shuf-big corpus.jsonl -o shuffled.jsonl --mem 4G
  zcat part-*.gz | shuf-big --mem 8G | split -l 1000000 - shard-
  shuf-big --seed 42 -T /scratch -T /scratch2 big.txt -o big.shuf.txt
  shuf-big shard-*.jsonl.gz --shards 64 -o 'train-{shard:05d}-of-{shards:05d}.jsonl.gz'
  shuf-big --header 1 data.tsv -o data.shuf.tsv
  shuf-big --aligned train.de train.en -o train.de.shuf -o train.en.shuf
  shuf-big -n 3 -i 1-1000000
  shuf-big -r -n 10 -e heads tails

SIZE is a byte count with an optional suffix K, M, G, T (powers of 1024) or a
percentage, as in GNU sort -S: 64K, 512M, 1.5G, 25%.  A percentage (and the
default 25%) is of the memory shuf-big may use: the least of physical RAM, its
cgroup memory limit (container, Slurm job) and its RLIMIT_AS/RLIMIT_DATA.  A
larger explicit --mem is allowed, with a warning.  The smallest --mem is 16K.

Inputs named *.gz, *.bz2, *.xz (*.lzma) or *.zst are decompressed, and an -o with
such a name is compressed, by the name alone (--decompress for other names and
standard input).  Input that does not fit --mem goes through temp files in -T:
they need about the input's (decompressed) size plus 2 bytes per line.  When -T
and TMPDIR are not given and /tmp is in RAM (tmpfs), /var/tmp is used; temp
files in RAM draw a warning, as they take memory beyond --mem.

Option names may be abbreviated to any unambiguous prefix, as with GNU shuf
(--rep, --head=5).  Progress shows when stderr is a terminal that the output
does not go to; in a log file, as a line every 30 s.

\b
Exit status:
  0    success
  1    any error, usage errors included (one line "shuf-big: ..." on stderr)
  141  killed by SIGPIPE: the reader of the output went away
  130, 143, 129  killed by SIGINT, SIGTERM, SIGHUP: interrupted, after
       removing temp files and the partial output
"""


@click.command(
    cls=GnuCommand,
    name=PROG,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("operands", nargs=-1, metavar="[FILE]...")
@click.option("-e", "--echo", is_flag=True, help="Treat each ARG as an input line.")
@click.option(
    "-i",
    "--input-range",
    "input_ranges",
    multiple=True,
    metavar="LO-HI",
    help="Treat each number LO through HI as an input line (0 to 2^64-1).",
)
@click.option(
    "-n",
    "--head-count",
    "head_counts",
    multiple=True,
    metavar="COUNT",
    help="Output at most COUNT lines: the first COUNT of the full shuffle, in one pass and O(COUNT) memory.",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Write the result to FILE (replaced atomically; compressed by a .gz/.bz2/.xz/.zst name) "
    "instead of standard output.",
)
@click.option(
    "--files-from",
    metavar="LIST",
    default=None,
    help="Read the input file names from LIST, one per line ('-': standard input; blank lines skipped). "
    "All are checked before the run; an error names the line.",
)
@click.option(
    "--decompress",
    type=click.Choice(["gzip", "bz2", "xz", "zstd"]),
    default=None,
    help="Decompress the input(s) with this format whatever their names (for standard input).",
)
@click.option(
    "--compress-level",
    type=int,
    default=None,
    metavar="N",
    help="Compression level of a compressed -o: gzip 1-9 (default 2, ~12% larger than gzip -6 and "
    "many times faster), zstd 1-22 (default 1, ~9% larger than gzip -6; 3: 10% smaller), bz2 1-9 (9), "
    "xz 0-9 (6).  Compressed in independent blocks on all -j workers.",
)
@click.option(
    "--header",
    type=int,
    default=0,
    metavar="N",
    help="Keep the first N lines on top, from the first input that has N; every later input must start "
    "with the same N lines (dropped), else nothing is written.",
)
@click.option(
    "--record-separator",
    "record_separator",
    default=None,
    metavar="SEP",
    help="Records end with SEP (backslash escapes such as \\n, \\t, \\x1e allowed); '' means "
    "documents separated by blank lines.",
)
@click.option(
    "--shards",
    type=int,
    default=None,
    metavar="K",
    help="Write K files of near-equal record counts, named by -o PATTERN with {shard} and {shards}.",
)
@click.option(
    "--aligned",
    is_flag=True,
    help="Apply one permutation to several inputs that correspond line by line (one -o per input).",
)
@click.option(
    "--random-source",
    "random_sources",
    multiple=True,
    metavar="FILE",
    help="Derive the seed from FILE's first 32 bytes (BLAKE2b): the output depends only on them.",
)
@click.option(
    "-r", "--repeat", is_flag=True, help="Output lines can be repeated: draw with replacement (forever without -n)."
)
@click.option(
    "-S",
    "--mem",
    "mem",
    default=DEFAULT_MEM,
    metavar="SIZE",
    help=f"Memory budget for the whole run, at least 16K (default {DEFAULT_MEM} of the memory shuf-big may "
    "use: RAM, cgroup limit or rlimit, whichever is least).",
)
@click.option(
    "--seed",
    type=str,
    default=None,
    metavar="N",
    help="Seed (0 to 2^64-1): the same seed gives the same output for any --mem, -j or -T "
    "(default: a random one, which -v prints).",
)
@click.option(
    "-T",
    "--temporary-directory",
    "temp_dirs",
    multiple=True,
    metavar="DIR",
    help="Put temp files in DIR (repeat to spread them); default $TMPDIR, else /tmp (/var/tmp if /tmp is in RAM).",
)
@click.option("-z", "--zero-terminated", is_flag=True, help="Records end with NUL, not newline.")
@click.option(
    "-j",
    "--jobs",
    type=int,
    default=None,
    metavar="N",
    help="Worker threads, at least 1 (the --mem budget is shared by all; default: the CPUs available).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress on stderr (default: when stderr is a terminal and the output does not go to it).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (nor the Dask dashboard's address).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="At the end, print a run report on stderr: the seed (to rerun with --seed), records and bytes in and "
    "out, the path taken, temp bytes written, peak memory, wall time.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    help="Run on this machine (default), or as tasks on a Dask cluster (pip install 'shuf-big[dask]'; "
    "from a clone: pip install '.[dask]').",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --engine dask: a running scheduler (tcp://host:8786); default: start a LocalCluster of -j workers.",
)
@click.option(
    "--temp-url",
    metavar="URL",
    default=None,
    help="With --engine dask: temp storage every worker can reach (s3://bucket/tmp, file:///shared/tmp).",
)
@click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
def cli(
    operands: tuple[str, ...],
    echo: bool,
    input_ranges: tuple[str, ...],
    outputs: tuple[str, ...],
    files_from: str | None,
    decompress: str | None,
    compress_level: int | None,
    header: int,
    record_separator: str | None,
    shards: int | None,
    aligned: bool,
    random_sources: tuple[str, ...],
    repeat: bool,
    mem: str,
    seed: str | None,
    temp_dirs: tuple[str, ...],
    zero_terminated: bool,
    jobs: int | None,
    progress: bool | None,
    quiet: bool,
    verbose: bool,
    engine: str,
    scheduler: str | None,
    temp_url: str | None,
    head_counts: tuple[str, ...],
) -> None:
    """Shuffle the lines of the FILEs (or standard input) together into a uniformly random order.

    Inputs of any size are shuffled within the --mem budget: ones that fit are shuffled
    in memory, larger ones in two passes through temp files.  With -e the operands are
    the lines (shuf-big -e ARG...); with -i LO-HI the numbers LO..HI are.  All GNU shuf
    options are accepted.
    """
    # Imported only now that parsing is done: --help, --version and usage errors never load
    # numpy or the engines (tests/test_startup.py).
    from shuf_big.options import check_conflicts, check_repeats, parse_count, parse_input_range, parse_seed
    from shuf_big.system.progress import wanted

    # Errors of single options first, as GNU shuf meets them while parsing.
    check_repeats(outputs, aligned, random_sources, len(input_ranges))
    if not aligned:
        outputs = outputs[-1:]
    input_range = parse_input_range(input_ranges[0]) if input_ranges else None
    seed_value = parse_seed(seed) if seed is not None else None
    counts = [parse_count(text) for text in head_counts]
    check_conflicts(
        echo, input_range is not None, bool(random_sources), seed_value is not None, operands, files_from is not None
    )
    files = list(operands)
    if echo or input_range is not None:
        files, files_from = ["-"], None
    separator = None if record_separator is None else _unescape(record_separator)
    show = wanted(progress, "-" in outputs or not outputs) and not quiet
    try:
        result = shuffle(
            files or ["-"],
            list(outputs) or ["-"],
            mem=mem,
            seed=seed_value,
            tmp_dirs=list(temp_dirs) or None,
            jobs=jobs,
            zero_terminated=zero_terminated,
            record_separator=separator,
            header=header,
            decompress=decompress,
            compress_level=compress_level,
            shards=shards,
            aligned=aligned,
            progress=show,
            head_count=min(counts) if counts else None,  # GNU shuf: the smallest -n wins
            echo=operands if echo else None,
            input_range=input_range,
            repeat=repeat,
            random_source=random_sources[0] if random_sources else None,
            engine=engine,
            scheduler=scheduler,
            temp_url=temp_url,
            quiet=quiet,
            files_from=files_from,
        )
    except BrokenPipeError:
        # Not an OSError past this point: click would print nothing and exit 1.
        raise Interrupted(signal.SIGPIPE) from None
    if verbose:
        sys.stderr.write("".join(f"{PROG}: {line}\n" for line in result.report().splitlines()))


def shuffle(*args: Any, **kwargs: Any) -> Result:
    """:func:`shuf_big.shuffle`, imported at its first call so the command starts fast."""
    from shuf_big.api import shuffle as run_shuffle

    return run_shuffle(*args, **kwargs)


def _unescape(text: str) -> bytes:
    """``--record-separator`` text with backslash escapes (``\\n``, ``\\t``, ``\\0``, ``\\x1e``) as bytes."""
    try:
        return codecs.escape_decode(os.fsencode(text))[0]
    except ValueError as err:
        raise ShufBigError(f"invalid --record-separator '{text}': {err}") from None


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()
    sys.exit(1)


def _die_by(signum: int) -> NoReturn:
    """Die by ``signum`` with its default action, as an interrupted coreutils program does."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    # Nothing more may reach a closed pipe, not even Python's flush at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # only if the signal was blocked


def _show_warning(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    """A warning as one ``shuf-big: warning: ...`` line, as GNU tools word theirs."""
    sys.stderr.write(f"{PROG}: warning: {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    warnings.showwarning = _show_warning
    for category in (CompressedInputWarning, MemoryLimitWarning, RamTempWarning):
        warnings.simplefilter("always", category)
    # SIGINT too: click would turn a KeyboardInterrupt into its own Abort.
    install_signal_handlers()
    try:
        cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()}\nTry '{PROG} --help' for more information.")
    except UsageError as exc:
        _fail(f"{exc.cli_message or exc}\nTry '{PROG} --help' for more information.")
    except ShufBigError as exc:
        _fail(exc.cli_message or str(exc))
    except Interrupted as exc:
        _die_by(exc.signum)
    except MemoryError:
        _fail("out of memory: try a smaller --mem")
    except OSError as exc:
        where = f" '{exc.filename}'" if exc.filename else ""
        _fail(f"error{where}: {exc.strerror or exc}")
