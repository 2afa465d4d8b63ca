"""The README says what the code does: options, the API's signature, the code map.

Modelled on sqlite-utils' test_docs.py: documentation that drifts from the code fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import shuf_big
from shuf_big.cli import cli
from shuf_big.options.declared import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def section(title: str) -> str:
    """The README text under ``## title``, up to the next second-level heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else len(README)]


def readme_options() -> set[str]:
    """Every flag named in the first column of the README's options table."""
    flags: set[str] = set()
    for line in section("Options").splitlines():
        if line.startswith("| `"):
            flags.update(OPTION.findall(line.split("|")[1]))
    return flags


def help_options() -> set[str]:
    """Every flag ``shuf-big --help`` shows."""
    flags: set[str] = set()
    for param in cli.params:
        if isinstance(param, click.Option) and not param.hidden:
            flags.update(param.opts)
            flags.update(param.secondary_opts)
    return flags | {"-h", "--help"}


def test_the_options_table_lists_exactly_the_options_of_help() -> None:
    documented, offered = readme_options(), help_options()
    assert documented - offered == set(), "the README documents options --help does not have"
    assert offered - documented == set(), "--help has options the README does not document"


def test_each_row_of_the_options_table_is_one_declared_option_with_its_metavar() -> None:
    """The table is checked against the declaration row by row, not only as a set of flags."""
    rows = [line.split("|")[1].strip(" `") for line in section("Options").splitlines() if line.startswith("| `-")]
    by_flags = {frozenset(f for flag in o.flags for f in flag.split("/")): o for o in OPTIONS if o.flags}
    seen = set()
    for row in rows:
        flags = frozenset(OPTION.findall(row)) - {"-h", "--help"}
        if flags == {"--version"}:
            continue
        option = by_flags.get(flags)
        assert option is not None, f"README row {row!r} is not one declared option"
        if option.metavar and not option.choices:
            assert row.endswith(option.metavar), row
        seen.add(option.name)
    assert seen == {o.name for o in by_flags.values()}


def test_help_says_jobs_are_threads_as_the_readme_does() -> None:
    help_text = cli.get_help(click.Context(cli))
    assert "Worker threads" in help_text
    assert "threads" in next(line for line in section("Options").splitlines() if "`-j, --jobs" in line)


def readme_signature() -> inspect.Signature:
    """The ``shuf_big.shuffle(...)`` signature the Python API section prints."""
    match = re.search(r"`shuf_big\.shuffle\((.*?)\)`", section("Python API"), re.DOTALL)
    assert match, "the Python API section shows no shuffle(...) signature"
    tree = ast.parse(f"def shuffle({' '.join(match.group(1).split())}): pass")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    args = fn.args
    params = [
        inspect.Parameter(a.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=ast.literal_eval(d))
        for a, d in zip(args.args, args.defaults, strict=True)
    ]
    params += [
        inspect.Parameter(a.arg, inspect.Parameter.KEYWORD_ONLY, default=ast.literal_eval(d) if d else None)
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return inspect.Signature(params)


def test_the_readme_signature_is_the_api_signature() -> None:
    actual = inspect.signature(shuf_big.shuffle)
    documented = readme_signature()
    assert [(p.name, p.kind, p.default) for p in documented.parameters.values()] == [
        (p.name, p.kind, p.default) for p in actual.parameters.values()
    ]


def code_map() -> dict[str, str]:
    """The README's code map: each folder it names, with the rest of its line."""
    diagram = section("Code map").split("```")[1]
    rows = [line.split(maxsplit=1) for line in diagram.strip().splitlines()]
    return {row[0]: row[1] for row in rows}


def test_the_code_map_has_one_line_per_folder_of_the_package() -> None:
    package = ROOT / "shuf_big"
    folders = {f"{p.parent.relative_to(ROOT)}/" for p in package.rglob("__init__.py")}
    assert sorted(code_map()) == sorted(folders)


def test_the_code_map_names_every_module_of_each_folder_it_describes_by_module() -> None:
    """Each line names its folder's modules (``core/`` is described by the text below it)."""
    for folder, text in code_map().items():
        modules = {p.stem for p in (ROOT / folder).glob("*.py")} - {"__init__", "__main__"}
        named = set(re.findall(r"[a-z_]+", text))
        missing = modules - named
        assert folder == "shuf_big/core/" or not missing, f"{folder}: the code map does not name {sorted(missing)}"


def test_every_module_the_code_map_text_names_exists() -> None:
    text = section("Code map").split("```")[2]
    names = set(re.findall(r"`([\w/]+\.py)`", text)) - {"__init__.py"}
    assert {"keys.py", "framing.py", "order.py"} <= names  # the core's modules are named
    for name in names:
        assert any((ROOT / base / name).exists() for base in ("", "shuf_big", "shuf_big/core")), name


@pytest.mark.parametrize("module", ["distributed", "fsspec", "dask"])
def test_importing_the_package_does_not_import_dask(module: str) -> None:
    """``import shuf_big`` stays light: Dask and fsspec load only for ``--engine dask``."""
    code = f"import shuf_big, sys; sys.exit({module!r} in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_exit_status_table_is_one_table_with_every_status_of_help() -> None:
    """Each status ``--help`` lists is a row of one unbroken table in the README."""
    text = section("Exit status and signals")
    table = re.search(r"\n\| status \| when \|\n(?:\|.*\|\n)+", text)
    assert table is not None, "no exit-status table"
    rows = table.group(0).strip().splitlines()[2:]
    assert len(rows) + 1 == text.count("\n| "), "a paragraph splits the exit-status table"  # + the header
    help_text = CliRunner().invoke(cli, ["--help"]).output
    listed = help_text.split("Exit status:")[1]
    statuses = set(re.findall(r"\b(?:0|1|1[2-4]\d)\b", listed))
    in_table = set(re.findall(r"\b(?:0|1|1[2-4]\d)\b", " ".join(row.split(" | ")[0] for row in rows)))
    assert statuses == in_table == {"0", "1", "129", "130", "141", "143"}
