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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from shuf_big import __version__
from shuf_big.cli.getopt import GnuCommand
from shuf_big.errors import (
    CompressedInputWarning,
    MemoryLimitWarning,
    RamTempWarning,
    ShufBigError,
    TempCompressionNotice,
    UsageError,
)
from shuf_big.options.declared import API_OPTIONS, BY_NAME, OPTIONS, Option
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


def _click_option(option: Option) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The click option of a declared one."""
    settings: dict[str, Any] = {"help": option.help}
    if option.kind == "flag":
        settings["is_flag"] = True
    elif option.kind == "toggle":
        settings["default"] = None
    else:
        settings["metavar"] = option.metavar
        if option.kind == "multiple":
            settings["multiple"] = True
        else:
            settings["default"] = option.default
            settings["type"] = click.Choice(option.choices) if option.choices else option.cli_type
            if option.choices:
                del settings["metavar"]  # click shows the choices
    return click.option(*option.flags, option.param, **settings)


def _declared(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with every declared option, in the declaration's (and --help's) order."""
    command = click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")(command)
    for option in reversed(OPTIONS):
        if option.kind == "operands":
            continue
        command = _click_option(option)(command)
    return click.argument("operands", nargs=-1, metavar=BY_NAME["src"].metavar)(command)


@click.command(
    cls=GnuCommand,
    name=PROG,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@_declared
def cli(**values: Any) -> None:
    """Shuffle the lines of the FILEs (or standard input) together into a uniformly random order.

    Inputs of any size are shuffled within the --mem budget: ones that fit are shuffled
    in memory, larger ones in two passes through temp files.  With -e the operands are
    the lines (shuf-big -e ARG...); with -i LO-HI the numbers LO..HI are.  All GNU shuf
    options are accepted.
    """
    verbose = values.pop("verbose")
    src, dst, arguments = _arguments(values)
    try:
        result = shuffle(src, dst, **arguments)
    except BrokenPipeError:
        # Not an OSError past this point: click would print nothing and exit 1.
        raise Interrupted(signal.SIGPIPE) from None
    if verbose:
        sys.stderr.write("".join(f"{PROG}: {line}\n" for line in result.report().splitlines()))


def _arguments(values: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """The command's values as :func:`shuf_big.shuffle`'s (src, dst, keyword arguments): the
    options GNU shuf lets repeat or spells otherwise converted, in GNU's order of errors."""
    # Imported only now that parsing is done: --help, --version and usage errors never load
    # numpy or the engines (tests/test_startup.py).
    from shuf_big.options.gnu import check_conflicts, check_repeats, parse_count, parse_input_range, parse_seed
    from shuf_big.system.progress import wanted

    operands, outputs, ranges, sources = (
        values.pop(k) for k in ("operands", "outputs", "input_ranges", "random_sources")
    )
    # Errors of single options first, as GNU shuf meets them while parsing.
    check_repeats(outputs, values["aligned"], sources, len(ranges))
    if not values["aligned"]:
        outputs = outputs[-1:]
    kwargs = {option.name: values[option.param] for option in API_OPTIONS if option.param in values}
    kwargs["input_range"] = parse_input_range(ranges[0]) if ranges else None
    kwargs["seed"] = parse_seed(values["seed"]) if values["seed"] is not None else None
    counts = [parse_count(text) for text in values.pop("head_counts")]
    check_conflicts(
        values["echo"],
        ranges != (),
        bool(sources),
        kwargs["seed"] is not None,
        operands,
        values["files_from"] is not None,
    )
    files = list(operands)
    if values["echo"] or ranges:
        files, kwargs["files_from"] = ["-"], None
    separator = values["record_separator"]
    kwargs.update(
        tmp_dirs=list(values["temp_dirs"]) or None,
        storage_options=list(values["storage_options"]) or None,
        record_separator=None if separator is None else _unescape(separator),
        progress=wanted(values["progress"], "-" in outputs or not outputs) and not values["quiet"],
        head_count=min(counts) if counts else None,  # GNU shuf: the smallest -n wins
        echo=operands if values["echo"] else None,
        random_source=sources[0] if sources else None,
    )
    return files or ["-"], list(outputs) or ["-"], kwargs


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
    """A warning as one ``shuf-big: warning: ...`` line, as GNU tools word theirs (a
    notice as ``shuf-big: ...``)."""
    kind = "" if isinstance(message, TempCompressionNotice) else "warning: "
    sys.stderr.write(f"{PROG}: {kind}{message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    warnings.showwarning = _show_warning
    for category in (CompressedInputWarning, MemoryLimitWarning, RamTempWarning, TempCompressionNotice):
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
