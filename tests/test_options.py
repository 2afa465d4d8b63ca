"""Options are declared once (``shuf_big/options/declared.py``): the API's signature and
docstring, the click command, the job and the engines' refusals agree with the declaration,
so that an option added there and forgotten elsewhere fails here, not in a user's hands."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import click
import pytest

import shuf_big
from shuf_big import core
from shuf_big.cli import cli
from shuf_big.engines.dask.engine import DaskEngine
from shuf_big.engines.gnu import GnuEngine
from shuf_big.engines.local.engine import LocalEngine
from shuf_big.files.compression import check_format
from shuf_big.job import Job
from shuf_big.options import gnu
from shuf_big.options.declared import API_OPTIONS, BY_NAME, OPTIONS
from shuf_big.options.features import NAMES, refuse
from shuf_big.options.resolve import resolve
from shuf_big.options.wording import api_words

ENGINES = (LocalEngine(), GnuEngine(), DaskEngine())


def test_shuffle_signature_is_the_declaration_exactly() -> None:
    """Names, order, kinds, defaults and types: what an IDE shows is what is declared."""
    params = list(inspect.signature(shuf_big.shuffle).parameters.values())
    assert [p.name for p in params] == [o.name for o in API_OPTIONS]
    for param in params:
        option = BY_NAME[param.name]
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if option.positional else inspect.Parameter.KEYWORD_ONLY
        assert (param.kind, param.default, param.annotation) == (kind, option.default, option.annotation), param.name


def test_shuffle_docstring_documents_each_parameter_in_order() -> None:
    doc = inspect.getdoc(shuf_big.shuffle) or ""
    documented = re.findall(r"^(\w+) : ", doc.split("Parameters\n----------\n")[1], re.MULTILINE)
    assert documented == [o.name for o in API_OPTIONS]


def test_the_click_command_is_built_from_the_declaration() -> None:
    """Every declared flag, in order, with its help, metavar, choices and default."""
    params = [p for p in cli.params if isinstance(p, click.Option) and p.name != "version"]
    declared = [o for o in OPTIONS if o.flags]
    assert [p.name for p in params] == [o.param for o in declared]
    for param, option in zip(params, declared, strict=True):
        assert param.help == option.help
        assert [*param.opts, *param.secondary_opts] == [f for flag in option.flags for f in flag.split("/")]
        assert param.multiple == (option.kind == "multiple")
        if option.choices:
            assert isinstance(param.type, click.Choice)
            assert tuple(param.type.choices) == option.choices
        elif option.kind == "value":
            assert (param.metavar, param.default) == (option.metavar, option.default)


def test_every_field_of_the_job_is_an_option_or_resolved_from_them() -> None:
    """A Job field nobody fills would be a default engines silently read."""
    resolved = {"inputs", "outputs", "sep", "spec", "plan", "temp_dirs", "origins"}
    for field in dataclasses.fields(Job):
        assert field.name in resolved or field.name in BY_NAME, field.name


def test_unknown_keyword_arguments_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'memory'"):
        resolve("-", "-", memory="1G")
    with pytest.raises(TypeError, match="unexpected keyword argument 'memory'"):
        next(shuf_big.iter_shuffled("-", memory="1G"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"header": -1}, "invalid header=: -1"),
        ({"shards": 0}, "invalid number of shards: 0"),
        ({"head_count": -2}, "invalid line count: '-2'"),
        ({"engine": "spark"}, "unknown engine 'spark' (use local or dask)"),
        ({"decompress": "lz4"}, "unknown compression format 'lz4' (use one of: gzip, bz2, xz, zstd)"),
    ],
)
def test_declared_checks_reject_bad_values_in_the_apis_words(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    (tmp_path / "in.txt").write_bytes(b"a\n")
    with pytest.raises(shuf_big.ShufBigError) as caught:
        shuf_big.shuffle(str(tmp_path / "in.txt"), str(tmp_path / "out.txt"), **arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert not (tmp_path / "out.txt").exists()


def test_engines_support_only_declared_features_and_word_one_refusal() -> None:
    for engine in ENGINES:
        assert engine.supports <= NAMES, engine.name
        assert "{option}" in engine.refusal


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"engine": "dask", "head_count": 3}, "--engine dask cannot be combined with -n"),
        ({"engine": "dask", "aligned": True}, "--engine dask cannot be combined with --aligned"),
        ({"engine": "dask", "record_separator": ""}, "--engine dask cannot be combined with --record-separator ''"),
        ({"echo": ["a"], "header": 1}, "-e, -i and -r cannot be combined with --header"),
        ({"input_range": (1, 3), "record_separator": "\t"}, "-e, -i and -r cannot be combined with --record-separator"),
        ({"repeat": True, "decompress": "gzip"}, "-e, -i and -r cannot be combined with --decompress"),
        ({"scheduler": "tcp://127.0.0.1:1"}, "--scheduler and --temp-url need --engine dask"),
        ({"echo": ["a"], "temp_url": "memory://t"}, "--scheduler and --temp-url need --engine dask"),
    ],
)
def test_the_first_unsupported_feature_is_refused_once_for_every_engine(
    arguments: dict[str, object], message: str
) -> None:
    job = resolve("-", "-", seed=1, **arguments)
    engine = shuf_big.api.engine_for(job)
    with pytest.raises(shuf_big.ShufBigError) as caught:
        refuse(job, engine)
    assert str(caught.value) == message


def test_api_wording_names_each_spelled_option_as_its_parameter() -> None:
    for option in OPTIONS:
        if option.spelled is not None:
            assert api_words(f"bad {option.spelled} here") == f"bad {option.api_spelling} here"
    assert (
        api_words("--engine dask cannot be combined with -n 5") == "engine='dask' cannot be combined with head_count=5"
    )


def test_gnu_parsers_know_the_cores_64_bit_range_and_the_formats_choices() -> None:
    assert gnu.RANGE_MAX == core.MASK64
    for fmt in BY_NAME["decompress"].choices or ():
        check_format(fmt)
