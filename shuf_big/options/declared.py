"""Every option, declared once: its API name and type, its CLI spelling, default, help and
check.  The click command is built from this table, :func:`shuf_big.shuffle`'s signature and
docstring and the README's options table are checked against it (``tests/test_options.py``,
``tests/test_docs.py``), :func:`~shuf_big.options.resolve.resolve` fills defaults and checks
values from it, and messages are reworded for the API by it.

Nothing here imports numpy or an engine: ``--help`` reads this table, and must start fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shuf_big.budget.sizes import DEFAULT_MEM
from shuf_big.files.formats import FORMATS

ENGINES = ("local", "dask")
TEMP_COMPRESSION = ("auto", "always", "never")


@dataclass(frozen=True)
class Option:
    """One option.  ``name`` is the API's parameter; ``flags`` the command's spellings (none:
    the API's only, or the command's operands); ``kind`` how the command takes it: a
    ``flag``, a ``value``, ``multiple`` values (repeats checked as GNU shuf does), a
    ``toggle`` (``--progress/--no-progress``), the ``operands``; ``cli_only``: the command's
    alone (``-v``).  ``spelled`` is how messages name it (rewritten for the API as
    :attr:`api_spelling`), when they do.  ``check`` says whether an API value is valid,
    ``invalid`` the one-line error when it is not."""

    name: str
    flags: tuple[str, ...]
    annotation: str
    default: Any = None
    help: str = ""
    kind: str = "value"
    metavar: str | None = None
    dest: str | None = None  # the click parameter, when it is not ``name``
    choices: tuple[str, ...] | None = None
    cli_type: type = str
    cli_only: bool = False
    positional: bool = False  # an API parameter before the keyword-only ones
    spelled: str | None = None
    check: Callable[[Any], bool] | None = None
    invalid: str = ""

    @property
    def api_spelling(self) -> str:
        """How an API message names the parameter: ``dst``, ``aligned=True``, ``mem=``."""
        if self.positional:
            return self.name
        return f"{self.name}=True" if self.annotation == "bool" else f"{self.name}="

    @property
    def param(self) -> str:
        return self.dest or self.name


def _at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: value is None or value >= low


OPTIONS: tuple[Option, ...] = (
    Option("src", (), "Where | Sequence[Where]", "-", kind="operands", positional=True, metavar="[FILE]..."),
    Option(
        "echo",
        ("-e", "--echo"),
        "Sequence[str | bytes] | None",
        kind="flag",
        spelled="-e",
        help="Treat each ARG as an input line.",
    ),
    Option(
        "input_range",
        ("-i", "--input-range"),
        "tuple[int, int] | str | None",
        kind="multiple",
        dest="input_ranges",
        metavar="LO-HI",
        spelled="-i",
        help="Treat each number LO through HI as an input line (0 to 2^64-1).",
    ),
    Option(
        "head_count",
        ("-n", "--head-count"),
        "int | None",
        kind="multiple",
        dest="head_counts",
        metavar="COUNT",
        spelled="-n",
        check=_at_least(0),
        invalid="invalid line count: '{value}'",
        help="Output at most COUNT lines: the first COUNT of the full shuffle, in one pass and O(COUNT) memory.",
    ),
    Option(
        "dst",
        ("-o", "--output"),
        "Where | Sequence[Where]",
        "-",
        kind="multiple",
        dest="outputs",
        metavar="FILE",
        positional=True,
        spelled="-o",
        help="Write the result to FILE (replaced atomically; compressed by a .gz/.bz2/.xz/.zst name) "
        "instead of standard output.",
    ),
    Option(
        "files_from",
        ("--files-from",),
        "str | os.PathLike[str] | None",
        metavar="LIST",
        spelled="--files-from",
        help="Read the input file names from LIST, one per line ('-': standard input; blank lines skipped). "
        "All are checked before the run; an error names the line.",
    ),
    Option(
        "decompress",
        ("--decompress",),
        "str | None",
        choices=FORMATS,
        spelled="--decompress",
        help="Decompress the input(s) with this format whatever their names (for standard input).",
    ),
    Option(
        "compress_level",
        ("--compress-level",),
        "int | None",
        metavar="N",
        cli_type=int,
        spelled="--compress-level",
        help="Compression level of a compressed -o: gzip 1-9 (default 2, ~12% larger than gzip -6 and "
        "many times faster), zstd 1-22 (default 1, ~9% larger than gzip -6; 3: 10% smaller), bz2 1-9 (9), "
        "xz 0-9 (6).  Compressed in independent blocks on all -j workers.",
    ),
    Option(
        "compress_temp",
        ("--compress-temp",),
        "str",
        "auto",
        choices=TEMP_COMPRESSION,
        metavar="WHEN",
        spelled="--compress-temp",
        check=lambda value: value in TEMP_COMPRESSION,
        invalid="invalid --compress-temp '{value}' (use auto, always or never)",
        help="Compress temp files (zstd): auto (default) when the temp directories lack the space "
        "a plain run needs, always, or never.",
    ),
    Option(
        "header",
        ("--header",),
        "int",
        0,
        metavar="N",
        cli_type=int,
        spelled="--header",
        check=_at_least(0),
        invalid="invalid --header: {value}",
        help="Keep the first N lines on top, from the first input that has N; every later input must start "
        "with the same N lines (dropped), else nothing is written.",
    ),
    Option(
        "record_separator",
        ("--record-separator",),
        "str | bytes | None",
        metavar="SEP",
        spelled="--record-separator",
        help="Records end with SEP (backslash escapes such as \\n, \\t, \\x1e allowed); '' means "
        "documents separated by blank lines.",
    ),
    Option(
        "shards",
        ("--shards",),
        "int | None",
        metavar="K",
        cli_type=int,
        spelled="--shards",
        check=_at_least(1),
        invalid="invalid number of shards: {value}",
        help="Write K files of near-equal record counts, named by -o PATTERN with {shard} and {shards}.",
    ),
    Option(
        "aligned",
        ("--aligned",),
        "bool",
        False,
        kind="flag",
        spelled="--aligned",
        help="Apply one permutation to several inputs that correspond line by line (one -o per input).",
    ),
    Option(
        "random_source",
        ("--random-source",),
        "str | os.PathLike[str] | None",
        kind="multiple",
        dest="random_sources",
        metavar="FILE",
        spelled="--random-source",
        help="Derive the seed from FILE's first 32 bytes (BLAKE2b): the output depends only on them.",
    ),
    Option(
        "repeat",
        ("-r", "--repeat"),
        "bool",
        False,
        kind="flag",
        spelled="-r",
        help="Output lines can be repeated: draw with replacement (forever without -n).",
    ),
    Option(
        "mem",
        ("-S", "--mem"),
        "int | str",
        DEFAULT_MEM,
        metavar="SIZE",
        spelled="--mem",
        help=f"Memory budget for the whole run, at least 16K (default {DEFAULT_MEM} of the memory shuf-big may "
        "use: RAM, cgroup limit or rlimit, whichever is least).",
    ),
    Option(
        "seed",
        ("--seed",),
        "int | None",
        metavar="N",
        spelled="--seed",
        help="Seed (0 to 2^64-1): the same seed gives the same output for any --mem, -j or -T "
        "(default: a random one, which -v prints).",
    ),
    Option(
        "tmp_dirs",
        ("-T", "--temporary-directory"),
        "list[str] | None",
        kind="multiple",
        dest="temp_dirs",
        metavar="DIR",
        help="Put temp files in DIR (repeat to spread them); default $TMPDIR, else /tmp (/var/tmp if /tmp is in RAM).",
    ),
    Option(
        "zero_terminated",
        ("-z", "--zero-terminated"),
        "bool",
        False,
        kind="flag",
        spelled="-z",
        help="Records end with NUL, not newline.",
    ),
    Option(
        "jobs",
        ("-j", "--jobs"),
        "int | None",
        metavar="N",
        cli_type=int,
        spelled="--jobs",
        help="Worker threads, at least 1 (the --mem budget is shared by all; default: the CPUs available).",
    ),
    Option(
        "progress",
        ("--progress/--no-progress",),
        "bool",
        False,
        kind="toggle",
        help="Show progress on stderr (default: when stderr is a terminal and the output does not go to it).",
    ),
    Option(
        "quiet",
        ("-q", "--quiet"),
        "bool",
        False,
        kind="flag",
        help="No progress bar (nor the Dask dashboard's address).",
    ),
    Option(
        "verbose",
        ("-v", "--verbose"),
        "bool",
        False,
        kind="flag",
        cli_only=True,
        help="At the end, print a run report on stderr: the seed (to rerun with --seed), records and bytes in "
        "and out, the path taken, temp bytes written, peak memory, wall time.",
    ),
    Option(
        "engine",
        ("--engine",),
        "str",
        "local",
        choices=ENGINES,
        spelled="--engine",
        check=lambda value: value in ENGINES,
        invalid="unknown engine '{value}' (use local or dask)",
        help="Run on this machine (default), or as tasks on a Dask cluster (pip install 'shuf-big[dask]'; "
        "from a clone: pip install '.[dask]').",
    ),
    Option(
        "scheduler",
        ("--scheduler",),
        "str | None",
        metavar="ADDRESS",
        spelled="--scheduler",
        help="With --engine dask: a running scheduler (tcp://host:8786); default: start a LocalCluster of -j workers.",
    ),
    Option(
        "temp_url",
        ("--temp-url",),
        "str | None",
        metavar="URL",
        spelled="--temp-url",
        help="With --engine dask: temp storage every worker can reach (s3://bucket/tmp, file:///shared/tmp).",
    ),
    Option(
        "storage_options",
        ("--storage-option",),
        "Mapping[str, Any] | Sequence[str] | None",
        kind="multiple",
        metavar="KEY=VALUE",
        spelled="--storage-option",
        help="Pass KEY=VALUE to the filesystem of URL inputs and outputs (repeatable; VALUE as JSON where it "
        "parses; PROTOCOL.KEY=VALUE for one protocol), e.g. s3.endpoint_url=http://127.0.0.1:9000.",
    ),
)

BY_NAME = {option.name: option for option in OPTIONS}
# The API's parameters, in its signature's order: src and dst first, then the keyword-only ones.
API_OPTIONS = tuple(o for o in OPTIONS if o.positional) + tuple(
    o for o in OPTIONS if not o.positional and not o.cli_only
)
# Option values that messages name together, and how the API writes them.
PHRASES = (("engine", "dask"), ("record_separator", ""))


def defaults() -> dict[str, Any]:
    """Every API parameter with its default."""
    return {option.name: option.default for option in API_OPTIONS}
