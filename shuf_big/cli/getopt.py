"""GNU getopt_long's long-option abbreviations for click, which matches names exactly.

``shuf`` accepts any unambiguous prefix of a long option (``--rep``, ``--head=5``,
``--input-r 1-9``); scripts written for it must run under ``alias shuf=shuf-big``.  An
ambiguous prefix is an error worded as glibc's.  Arguments are expanded before click
parses them, skipping option values and everything after ``--``.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from shuf_big.errors import UsageError

# GNU shuf's own long options, in the order of its option table: glibc lists the
# candidates of an ambiguous prefix in that order; shuf-big's own options follow.
GNU_ORDER = (
    "--echo",
    "--input-range",
    "--head-count",
    "--output",
    "--random-source",
    "--repeat",
    "--zero-terminated",
    "--help",
    "--version",
)


class Spelling:
    """The long and short options of a click command: which exist and which take a value."""

    def __init__(self, params: Sequence[click.Parameter], help_names: Sequence[str]) -> None:
        self.longs: list[str] = []
        self.takes_value: set[str] = set()
        for param in params:
            if not isinstance(param, click.Option):
                continue
            names = [*param.opts, *param.secondary_opts]
            self.longs += [n for n in names if n.startswith("--")]
            if not param.is_flag and not param.count:
                self.takes_value.update(param.opts)
        self.longs += [n for n in help_names if n.startswith("--")]
        known = [n for n in GNU_ORDER if n in self.longs]
        self.longs = known + [n for n in self.longs if n not in known]

    def expand(self, arg: str) -> str:
        """``arg`` (``--rep``, ``--head=5``) with its long option written in full.

        A prefix of exactly one of GNU shuf's own options means that option even if it
        also begins one of shuf-big's (``--head`` is ``--head-count``, not ``--header``),
        so every command line GNU shuf accepts means the same here.
        """
        name, eq, value = arg.partition("=")
        if name not in self.longs:
            candidates = [n for n in self.longs if n.startswith(name)]
            gnu = [n for n in candidates if n in GNU_ORDER]
            if len(gnu) == 1:
                candidates = gnu
            if not candidates:
                raise UsageError(f"unrecognized option '{arg}'")
            if len(candidates) > 1:
                listed = " ".join(f"'{n}'" for n in candidates)
                raise UsageError(f"option '{name}' is ambiguous; possibilities: {listed}")
            name = candidates[0]
        if eq and name not in self.takes_value:
            raise UsageError(f"option '{name}' doesn't allow an argument")
        return name + eq + value

    def expand_args(self, args: Sequence[str]) -> list[str]:
        """``args`` with every abbreviated long option written in full."""
        out: list[str] = []
        pending_value = False
        for i, arg in enumerate(args):
            if pending_value:
                out.append(arg)
                pending_value = False
            elif arg == "--":
                return out + list(args[i:])
            elif arg.startswith("--"):
                full = self.expand(arg)
                out.append(full)
                pending_value = full in self.takes_value
            elif arg.startswith("-") and len(arg) > 1:
                out.append(arg)
                pending_value = self._short_needs_next(arg)
            else:
                out.append(arg)
        if pending_value:
            last = out[-1]
            if last.startswith("--"):
                raise UsageError(f"option '{last}' requires an argument")
            raise UsageError(f"option requires an argument -- '{last[-1]}'")
        return out

    def _short_needs_next(self, arg: str) -> bool:
        """Whether a cluster of short options (``-zn``) ends with one whose value is the next argument."""
        for at in range(1, len(arg)):
            if f"-{arg[at]}" in self.takes_value:
                return at == len(arg) - 1
        return False


class GnuCommand(click.Command):
    """A click command that also takes unambiguous prefixes of its long options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        spelling = Spelling(self.get_params(ctx), ctx.help_option_names)
        return super().parse_args(ctx, spelling.expand_args(args))
