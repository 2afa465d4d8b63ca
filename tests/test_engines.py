"""One conformance suite for both engines.

Every test here runs once per engine, through the library call ``shuf_big.shuffle``: the
local engine, and the Dask engine on an in-process cluster of two single-thread workers
(the way fsspec runs one abstract test suite over each file system).  The contract: the
output is a permutation of the input records, and the same seed gives the same bytes as
the local engine in memory, whatever the budget, the inputs' shapes and the options; a
failed run is a one-line :class:`shuf_big.ShufBigError` that leaves an existing output
untouched; no temp files are left (checked after every run, failed or not).  Where the Dask
engine refuses an option, :func:`test_an_option_is_supported_or_refused_in_one_line` says
so for each option; nothing is skipped silently.

The inputs are made once for the module, and the local engine's reference outputs once
per inputs and options; the cluster is started once per module (conftest).  What only the
Dask engine has (memory:// storage, URL globs, lost workers, the command's own cluster)
is in test_dask.py.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import PRECIOUS, numbered_rows, sorted_records, words
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shuf_big
from shuf_big import ShufBigError

REFERENCE_MEM = "1G"  # the local engine in memory: the bytes every engine must give
MEM = "1M"  # where the budget is not the point: few blocks on Dask, in memory locally
SEPARATORS = {"</doc>\n": "doc", "xx": "xx"}  # multi-byte; "xx" can overlap itself


# -- the engines -------------------------------------------------------------------------------


@dataclass
class Engine:
    """One engine behind the library call, with its temp files in a private folder."""

    name: str
    temp: Path
    options: dict[str, Any]

    def shuffle(self, src: Any, dst: Any, **options: Any) -> None:
        """``shuf_big.shuffle`` on this engine; afterwards, failed or not, no temp file is left."""
        try:
            shuf_big.shuffle(src, dst, **self.options, **options)
        finally:
            left = os.listdir(self.temp)
            assert left == [], f"the {self.name} engine left temp files: {left}"

    def run(self, srcs: Sequence[Path], out: Path, **options: Any) -> bytes:
        """Shuffle files into ``out``; return its bytes."""
        self.shuffle([str(s) for s in srcs], str(out), **options)
        return out.read_bytes()


@pytest.fixture(params=["local", "dask"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    temp = tmp_path / "engine-temp"
    temp.mkdir()
    if request.param == "local":
        return Engine("local", temp, {"tmp_dirs": [str(temp)]})
    pytest.importorskip("distributed")
    cluster = request.getfixturevalue("cluster")
    return Engine("dask", temp, {"engine": "dask", "scheduler": cluster.scheduler_address, "temp_url": str(temp)})


# -- inputs and reference outputs, shared by both engines ---------------------------------------


def _joined(blob: bytes, sep: bytes) -> bytes:
    """The lines of ``blob`` as records ending with ``sep``."""
    return sep.join(blob.split(b"\n"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    a, b = words(6000, 1), words(3000, 2) + b"no final newline"
    gz = words(8000, 4)
    blobs = {
        "a": a,
        "b": b,  # its last line has no newline
        "c": b"",
        "a+b": a + b + b"\n",  # `cat a b` with the newline the last line gets
        "numbered": numbered_rows(0, 40_000),
        "nul": words(5000, 3).replace(b"\n", b"\0").replace(b"a", b"\n"),
        "gz-1.txt.gz": gzip.compress(b"id\n" + gz[: len(gz) // 2]),  # both start with the header "id"
        "gz-2.txt": b"id\n" + gz[len(gz) // 2 :],
        "two": b"a\nb\n",
        "paragraphs": b"p1 l1\np1 l2\n\n\np2\n\np3 l1\np3 l2\n",
        "de": b"".join(b"de %d\n" % i for i in range(1000)),
        "en": b"".join(b"en %d\n" % i for i in range(1000)),
    }
    for sep, name in SEPARATORS.items():
        token = sep.encode()
        blobs[f"{name}-a"] = _joined(words(4000, 1), token) + b"x" + token[:1]  # ends with the start of sep
        blobs[f"{name}-b"] = _joined(words(2000, 2), token) + b"tail"  # ends without any of it
    tokens = {"a": b"\n", "b": b"\n"} | {f"{n}-{ab}": sep.encode() for sep, n in SEPARATORS.items() for ab in "ab"}
    for name, token in tokens.items():
        blobs[f"{name}+h"] = b"id" + token + b"text" + token + blobs[name]  # two header records
    paths = {name: folder / name for name in blobs}
    for name, blob in blobs.items():
        paths[name].write_bytes(blob)
    return paths


Reference = Callable[..., Path]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """``reference(srcs, name="out.txt", **options)``: the path of the local engine's output
    in memory with those options, made once per inputs and options for both engines."""
    root = tmp_path_factory.mktemp("reference")
    done: dict[str, Path] = {}

    def get(srcs: Sequence[Path], name: str = "out.txt", **options: Any) -> Path:
        key = repr(([str(s) for s in srcs], name, sorted(options.items())))
        if key not in done:
            folder = root / str(len(done))
            folder.mkdir()
            shuf_big.shuffle([str(s) for s in srcs], str(folder / name), mem=REFERENCE_MEM, **options)
            done[key] = folder
        return done[key] / name

    return get


# -- the same bytes as the local engine, for any budget ------------------------------------------


@pytest.mark.parametrize(
    ("mem", "sep", "header"),
    [
        ("64K", None, 0),  # many blocks, many buckets
        ("16K", None, 2),  # buckets over budget: reduce tasks read their ranges per key sub-range
        ("1M", None, 0),  # few blocks
        ("64K", "</doc>\n", 1),  # a separator that cannot overlap itself: split anywhere
        ("64K", "xx", 0),  # one that can: each input is one block
    ],
)
def test_same_bytes_as_the_local_engine(
    engine: Engine,
    inputs: dict[str, Path],
    reference: Reference,
    tmp_path: Path,
    mem: str,
    sep: str | None,
    header: int,
) -> None:
    """Three inputs (one empty, one without final newline) at budgets from 16K: the local
    engine in memory's bytes.  With a header, the inputs start with the same records."""
    prefix = "" if sep is None else f"{SEPARATORS[sep]}-"
    suffix = "+h" if header else ""
    srcs = [inputs[f"{prefix}a{suffix}"], inputs["c"], inputs[f"{prefix}b{suffix}"]]
    options = {"seed": 7, "record_separator": sep, "header": header}
    got = engine.run(srcs, tmp_path / "out.txt", mem=mem, **options)
    assert got == reference(srcs, **options).read_bytes()
    assert len(got) > 100_000


def test_the_same_seed_gives_the_same_permutation_for_any_budget(
    engine: Engine, inputs: dict[str, Path], tmp_path: Path
) -> None:
    src = inputs["numbered"]
    outs = [engine.run([src], tmp_path / f"{mem}.txt", mem=mem, seed=11) for mem in ("32K", "256K", "4M")]
    assert outs[0] == outs[1] == outs[2]
    assert sorted(outs[0].splitlines(keepends=True)) == sorted(src.read_bytes().splitlines(keepends=True))
    assert outs[0] != src.read_bytes()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blob=st.binary(max_size=3000).map(lambda b: b.replace(b"\r", b"\n")),
    mem=st.sampled_from(["16K", "32K", "1M"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_bytes_give_the_local_output(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, reference: Reference, blob: bytes, mem: str, seed: int
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "in.bin"
    src.write_bytes(blob)
    assert engine.run([src], tmp / "out.bin", mem=mem, seed=seed) == reference([src], seed=seed).read_bytes()


# -- inputs ----------------------------------------------------------------------------------------


def test_several_inputs_are_one_corpus(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    """``shuf-big a c b`` gives the bytes of ``cat a c b | shuf-big`` (c is empty, b has no
    final newline): the records are numbered one after another across the inputs."""
    got = engine.run([inputs["a"], inputs["c"], inputs["b"]], tmp_path / "out.txt", mem=MEM, seed=5)
    assert got == reference([inputs["a+b"]], seed=5).read_bytes()
    assert sorted_records(got) == sorted_records(inputs["a+b"].read_bytes())


def test_an_input_without_final_newline_does_not_merge_with_the_next(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    srcs = [inputs["b"], inputs["a"]]
    got = engine.run(srcs, tmp_path / "out.txt", mem=MEM, seed=6)
    assert sorted_records(got) == sorted_records(inputs["b"].read_bytes() + b"\n" + inputs["a"].read_bytes())
    assert b"no final newline\n" in got
    assert got == reference(srcs, seed=6).read_bytes()


def test_empty_inputs(engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path) -> None:
    """Only empty inputs: an empty output.  Empty inputs around others add no record."""
    assert engine.run([inputs["c"]], tmp_path / "empty.txt", mem=MEM, seed=1) == b""
    assert engine.run([inputs["c"], inputs["c"]], tmp_path / "empty2.txt", mem=MEM, seed=1) == b""
    around = engine.run([inputs["c"], inputs["a"], inputs["c"]], tmp_path / "out.txt", mem=MEM, seed=1)
    assert around == reference([inputs["a"]], seed=1).read_bytes()


def test_header_of_the_first_input_on_top_later_headers_dropped(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    """The empty first input has no header: it comes from the next one, and the last one's
    (the same) is dropped."""
    a, b = inputs["a+h"].read_bytes().split(b"\n"), (inputs["b+h"].read_bytes() + b"\n").split(b"\n")
    srcs = [inputs["c"], inputs["a+h"], inputs["b+h"]]
    got = engine.run(srcs, tmp_path / "out.txt", mem=MEM, seed=2, header=1)
    first, rest = got.split(b"\n", 1)
    assert first == b"id"
    assert sorted_records(rest) == sorted(a[1:-1] + b[1:-1])
    assert got == reference(srcs, seed=2, header=1).read_bytes()


@pytest.mark.parametrize("later", ["b", "gz-1.txt.gz"], ids=["plain", "gzip"])
def test_a_later_input_with_another_header_is_an_error(
    engine: Engine, inputs: dict[str, Path], tmp_path: Path, later: str
) -> None:
    """Nothing is written: the message names the input and the line that differs."""
    dst = tmp_path / "out.txt"
    dst.write_bytes(PRECIOUS)
    with pytest.raises(ShufBigError) as err:
        engine.shuffle([str(inputs["a+h"]), str(inputs[later])], str(dst), mem=MEM, seed=2, header=2)
    lines = (gzip.decompress if later.endswith(".gz") else bytes)(inputs[later].read_bytes()).split(b"\n")
    at = 0 if lines[0] != b"id" else 1  # the gzip input starts with "id" too, then a word
    want = (b"id", b"text")[at].decode()
    assert str(err.value) == (
        f"'{inputs[later]}' does not start with the header of '{inputs['a+h']}' (header=2): "
        f'line {at + 1} is "{lines[at].decode()}", not "{want}"'
    )
    assert dst.read_bytes() == PRECIOUS


# -- records ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["</doc>\n", "xx"], ids=["doc", "self-overlapping-xx"])
def test_multibyte_separator(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path, sep: str
) -> None:
    """Records end with ``sep``, matched left to right like ``bytes.split``; the last one
    gets it."""
    src = inputs[f"{SEPARATORS[sep]}-b"]
    token = sep.encode()
    got = engine.run([src], tmp_path / "out.txt", mem=MEM, seed=4, record_separator=sep)
    assert sorted_records(got, token) == sorted(src.read_bytes().split(token))
    assert got == reference([src], seed=4, record_separator=sep).read_bytes()


def test_zero_terminated(engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path) -> None:
    """NUL-terminated records with newlines inside."""
    src = inputs["nul"]
    got = engine.run([src], tmp_path / "out.bin", mem="64K", seed=3, zero_terminated=True)
    assert got == reference([src], seed=3, zero_terminated=True).read_bytes()
    assert sorted_records(got, b"\0") == sorted_records(src.read_bytes(), b"\0")


# -- outputs ---------------------------------------------------------------------------------------


def test_shards_cut_the_one_shuffle(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    """Three shards: the unsharded output cut in three near-equal runs of records."""
    pattern = "part-{shard}-of-{shards}.txt"
    engine.shuffle([str(inputs["a"])], str(tmp_path / pattern), mem=MEM, seed=8, shards=3)
    shards = [(tmp_path / pattern.format(shard=s, shards=3)).read_bytes() for s in range(3)]
    assert b"".join(shards) == reference([inputs["a"]], seed=8).read_bytes()
    counts = [len(s.splitlines()) for s in shards]
    assert max(counts) - min(counts) <= 1


def test_more_shards_than_records(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    src = inputs["two"]
    engine.shuffle([str(src)], str(tmp_path / "s{shard}.txt"), mem="64K", seed=1, shards=4)
    want = reference([src], name="s{shard}.txt", seed=1, shards=4).parent
    for shard in range(4):
        name = f"s{shard}.txt"
        assert (tmp_path / name).read_bytes() == (want / name).read_bytes()
    assert sorted((tmp_path / f"s{s}.txt").read_bytes() for s in range(4)) == [b"", b"", b"a\n", b"b\n"]


def test_compressed_inputs_and_sharded_compressed_outputs(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path
) -> None:
    """A gzip input and a plain one; three gzip shards with the header on top of each:
    after decompression, the local engine's."""
    srcs = [inputs["gz-1.txt.gz"], inputs["gz-2.txt"]]
    pattern = "part-{shard}-of-{shards}.txt.gz"
    engine.shuffle([str(s) for s in srcs], str(tmp_path / pattern), mem="64K", seed=5, shards=3, header=1)
    want = reference(srcs, name=pattern, seed=5, shards=3, header=1).parent
    header = gzip.decompress(srcs[0].read_bytes()).split(b"\n")[0] + b"\n"
    for shard in range(3):
        name = pattern.format(shard=shard, shards=3)
        expected = gzip.decompress((want / name).read_bytes())
        assert gzip.decompress((tmp_path / name).read_bytes()) == expected
        assert expected.startswith(header)  # the header on top of every shard


def test_standard_output(
    engine: Engine, inputs: dict[str, Path], reference: Reference, capfd: pytest.CaptureFixture[str]
) -> None:
    src = inputs["b"]
    want = reference([src], seed=2).read_bytes()
    capfd.readouterr()
    engine.shuffle(str(src), "-", mem="64K", seed=2)
    assert capfd.readouterr().out.encode() == want


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["missing-input", "corrupt-gzip-after-a-good-input"])
def test_a_failed_run_is_one_error_line_and_leaves_the_output_untouched(
    engine: Engine,
    inputs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    """A missing input, or a truncated gzip input read after a good one (the local engine has
    bucket files by then): one line naming the file, the existing output untouched, and
    (checked by the engine runner) no temp files."""
    monkeypatch.chdir(tmp_path)
    if failure == "missing-input":
        srcs, message = ["missing.txt"], "cannot open 'missing.txt': No such file or directory"
    else:
        blob = gzip.compress(words(60_000, 5))
        (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
        srcs, message = [str(inputs["a"]), "cut.gz"], "read error on 'cut.gz': not valid gzip data"
    dst = tmp_path / "out.txt"
    dst.write_bytes(PRECIOUS)
    with pytest.raises(ShufBigError) as err:
        engine.shuffle(srcs, str(dst), mem="64K", seed=1)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert dst.read_bytes() == PRECIOUS
    assert [p.name for p in tmp_path.iterdir() if p.name not in {"cut.gz", "engine-temp", "out.txt"}] == []


# -- options one engine refuses --------------------------------------------------------------------

# What the Dask engine refuses, with its exact one-line message.  --repeat needs -n here
# (without it the local engine writes forever), and -n is the first option checked.
REFUSED: dict[str, dict[str, str]] = {
    "local": {},
    "dask": {  # the API's words: its parameters, not the command's flags
        "stdin": "engine='dask' reads files or URLs, not standard input",
        "head_count": "engine='dask' cannot be combined with head_count=",
        "echo": "engine='dask' cannot be combined with echo=",
        "input_range": "engine='dask' cannot be combined with input_range=",
        "repeat": "engine='dask' cannot be combined with head_count=",
        "aligned": "engine='dask' cannot be combined with aligned=True",
        "paragraphs": "engine='dask' cannot be combined with record_separator=''",
    },
}


def _use_stdin(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    """Standard input: the bytes of the same file given by name."""
    out = tmp_path / "out.txt"
    with inputs["a"].open("rb") as stdin, pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", stdin)
        engine.shuffle("-", str(out), mem=MEM, seed=3)
    assert out.read_bytes() == reference([inputs["a"]], seed=3).read_bytes()


def _use_head_count(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    """-n 3: the first three records of the full shuffle with the same seed."""
    out = tmp_path / "out.txt"
    engine.shuffle(str(inputs["a"]), str(out), mem=MEM, seed=3, head_count=3)
    assert out.read_bytes().splitlines() == reference([inputs["a"]], seed=3).read_bytes().splitlines()[:3]


def _use_echo(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    out = tmp_path / "out.txt"
    engine.shuffle("-", str(out), seed=3, echo=["x", "y", "z"])
    assert sorted_records(out.read_bytes()) == [b"x", b"y", b"z"]


def _use_input_range(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    out = tmp_path / "out.txt"
    engine.shuffle("-", str(out), seed=3, input_range="1-5")
    assert sorted_records(out.read_bytes()) == [b"1", b"2", b"3", b"4", b"5"]


def _use_repeat(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    out = tmp_path / "out.txt"
    engine.shuffle(str(inputs["two"]), str(out), seed=3, repeat=True, head_count=50)
    drawn = out.read_bytes().splitlines()
    assert len(drawn) == 50 and set(drawn) == {b"a", b"b"}  # with replacement: both, 1 - 2**-49


def _use_aligned(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    """--aligned: one permutation for both files, line i of one still matches line i of the other."""
    outs = [tmp_path / "out.txt", tmp_path / "out2.txt"]
    engine.shuffle([str(inputs["de"]), str(inputs["en"])], [str(o) for o in outs], mem=MEM, seed=3, aligned=True)
    de, en = (o.read_bytes().splitlines() for o in outs)
    assert [line[3:] for line in de] == [line[3:] for line in en]
    assert sorted_records(outs[0].read_bytes()) == sorted_records(inputs["de"].read_bytes())
    assert outs[0].read_bytes() != inputs["de"].read_bytes()


def _use_paragraphs(engine: Engine, tmp_path: Path, inputs: dict[str, Path], reference: Reference) -> None:
    """--record-separator '': blank-line separated documents stay whole, one blank line between."""
    out = tmp_path / "out.txt"
    engine.shuffle(str(inputs["paragraphs"]), str(out), mem=MEM, seed=3, record_separator="")
    got = out.read_bytes()
    assert got.endswith(b"\n") and not got.endswith(b"\n\n")
    assert sorted(got[:-1].split(b"\n\n")) == [b"p1 l1\np1 l2", b"p2", b"p3 l1\np3 l2"]


OPTIONS: dict[str, Callable[[Engine, Path, dict[str, Path], Reference], None]] = {
    "stdin": _use_stdin,
    "head_count": _use_head_count,
    "echo": _use_echo,
    "input_range": _use_input_range,
    "repeat": _use_repeat,
    "aligned": _use_aligned,
    "paragraphs": _use_paragraphs,
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_an_option_is_supported_or_refused_in_one_line(
    engine: Engine, inputs: dict[str, Path], reference: Reference, tmp_path: Path, option: str
) -> None:
    """Each engine either gives this option's output (checked) or refuses it with its
    one-line message before writing anything."""
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    refusal = REFUSED[engine.name].get(option)
    if refusal is None:
        OPTIONS[option](engine, tmp_path, inputs, reference)
        return
    with pytest.raises(ShufBigError) as err:
        OPTIONS[option](engine, tmp_path, inputs, reference)
    assert str(err.value) == refusal
    assert out.read_bytes() == PRECIOUS
    assert not (tmp_path / "out2.txt").exists()
