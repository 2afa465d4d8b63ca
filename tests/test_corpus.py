"""Corpus features: several inputs, compression, headers, record separators, shards, aligned corpora.

Each feature is checked against the single-file shuffle it must agree with: the order is
"records sorted by key(seed, global index)", so shuffling ``a b`` must give the bytes of
shuffling ``cat a b``, and ``--shards`` must cut exactly the unsharded output.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shuf_big
from shuf_big import core
from shuf_big.cli import cli

SEED = 1234


def lines(start: int, count: int, width: int = 9) -> bytes:
    """Distinct lines ``L000000001`` ..."""
    return b"".join(b"L%0*d\n" % (width, i) for i in range(start, start + count))


def run(cmd: list[str], *args: object, input: bytes | None = None, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cmd, *map(str, args)],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


def ok(result: subprocess.CompletedProcess) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout


def one_error(result: subprocess.CompletedProcess, needle: str) -> str:
    assert result.returncode == 1, result
    text = result.stderr.decode()
    assert text.startswith("shuf-big: ") and text.count("\n") <= 2, text  # usage errors add a hint line
    assert needle in text, text
    assert "Traceback" not in text
    return text


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_bytes(lines(0, 3000))
    b.write_bytes(lines(3000, 2000))
    return a, b


# -- several inputs --------------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_several_inputs_shuffle_like_their_concatenation(
    shuf_big_cmd: list[str], tmp_path: Path, two_files: tuple[Path, Path], mem: str
) -> None:
    a, b = two_files
    together = ok(run(shuf_big_cmd, a, b, "--seed", SEED, "--mem", mem))
    concatenated = ok(run(shuf_big_cmd, "--seed", SEED, "--mem", mem, input=a.read_bytes() + b.read_bytes()))
    assert together == concatenated
    assert sorted(together.splitlines()) == sorted((a.read_bytes() + b.read_bytes()).splitlines())


def test_an_input_without_final_newline_does_not_merge_with_the_next(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"one\ntwo")
    (tmp_path / "b").write_bytes(b"three\n")
    (tmp_path / "c").write_bytes(b"")
    (tmp_path / "d").write_bytes(b"four")
    out = ok(run(shuf_big_cmd, *(tmp_path / n for n in "abcd")))
    assert sorted(out.splitlines()) == [b"four", b"one", b"three", b"two"]
    assert out.endswith(b"\n")


def test_stdin_among_the_inputs(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a1\na2\n")
    out = ok(run(shuf_big_cmd, tmp_path / "a", "-", input=b"s1\ns2\n"))
    assert sorted(out.splitlines()) == [b"a1", b"a2", b"s1", b"s2"]


def test_files_from_reads_one_file_at_a_time(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """300 shards under an open-file limit of 64: inputs are opened one after another."""
    names = []
    for i in range(300):
        path = tmp_path / f"shard-{i:03d}.txt"
        path.write_bytes(lines(i * 10, 10))
        names.append(str(path))
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(names) + "\n")

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    out = ok(run(shuf_big_cmd, "--files-from", listing, "--seed", 5, preexec_fn=low_limit))
    assert sorted(out.splitlines()) == sorted(lines(0, 3000).splitlines())
    from_stdin = ok(run(shuf_big_cmd, "--files-from", "-", "--seed", 5, input=listing.read_bytes()))
    assert from_stdin == out


def test_files_from_errors(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    one_error(run(shuf_big_cmd, "--files-from", tmp_path / "nope"), "cannot read file list")
    listing = tmp_path / "list"
    listing.write_text(f"{tmp_path / 'missing.txt'}\n")
    one_error(run(shuf_big_cmd, "--files-from", listing), f"cannot open '{tmp_path / 'missing.txt'}'")
    one_error(run(shuf_big_cmd, "--files-from", listing, "x.txt"), "cannot be combined with --files-from")


# -- compression -----------------------------------------------------------------------------

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


@pytest.mark.parametrize("ext", list(OPENERS))
@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_compressed_input_and_output_by_extension(shuf_big_cmd: list[str], tmp_path: Path, ext: str, mem: str) -> None:
    data = lines(0, 20000)
    plain = tmp_path / "in.txt"
    plain.write_bytes(data)
    packed = tmp_path / f"in.txt{ext}"
    with OPENERS[ext](packed, "wb") as f:
        f.write(data)
    expected = ok(run(shuf_big_cmd, plain, "--seed", SEED, "--mem", mem))
    assert ok(run(shuf_big_cmd, packed, "--seed", SEED, "--mem", mem)) == expected
    out = tmp_path / f"out.txt{ext}"
    ok(run(shuf_big_cmd, plain, "--seed", SEED, "--mem", mem, "-o", out))
    with OPENERS[ext](out, "rb") as f:
        assert f.read() == expected
    assert out.read_bytes()[:2] != expected[:2]  # really compressed


def test_decompress_standard_input(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    data = lines(0, 1000)
    expected = ok(run(shuf_big_cmd, "--seed", 3, input=data))
    assert ok(run(shuf_big_cmd, "--seed", 3, "--decompress", "gzip", input=gzip.compress(data))) == expected
    assert ok(run(shuf_big_cmd, "--seed", 3, "--decompress", "xz", input=lzma.compress(data))) == expected


def test_corrupt_compressed_input_fails_cleanly(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(lines(0, 5000))[:-300])
    out = tmp_path / "out.txt"
    out.write_bytes(b"precious\n")
    one_error(run(shuf_big_cmd, bad, "-o", out), f"read error on '{bad}': not valid gzip data")
    assert out.read_bytes() == b"precious\n"
    assert set(os.listdir(tmp_path)) == {"bad.gz", "out.txt"}  # no partial output left


def test_zstd_round_trip(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    data = lines(0, 5000)
    packed = tmp_path / "in.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(data))
    expected = ok(run(shuf_big_cmd, "--seed", 9, input=data))
    out = tmp_path / "out.jsonl.zst"
    ok(run(shuf_big_cmd, packed, "--seed", 9, "-o", out))
    assert zstandard.ZstdDecompressor().stream_reader(out.read_bytes()).read() == expected


def test_zstd_without_the_extra_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now raises ImportError
    (tmp_path / "in.txt").write_bytes(b"a\nb\n")
    with pytest.raises(shuf_big.ShufBigError, match=r"pip install 'shuf-big\[zstd\]'"):
        shuf_big.shuffle(tmp_path / "in.txt", tmp_path / "out.zst")
    assert not (tmp_path / "out.zst").exists()


# -- header lines ----------------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_header_of_first_input_on_top_later_headers_dropped(shuf_big_cmd: list[str], tmp_path: Path, mem: str) -> None:
    a = tmp_path / "a.tsv"
    b = tmp_path / "b.tsv"
    a.write_bytes(b"id\ttext\n" + lines(0, 3000))
    b.write_bytes(b"id\ttext\n" + lines(3000, 3000))
    out = ok(run(shuf_big_cmd, "--header", 1, a, b, "--mem", mem, "--seed", 2))
    first, rest = out.split(b"\n", 1)
    assert first == b"id\ttext"
    assert sorted(rest.splitlines()) == sorted(lines(0, 6000).splitlines())
    # the records are shuffled exactly as without the header lines
    bare = ok(run(shuf_big_cmd, "--mem", mem, "--seed", 2, input=lines(0, 6000)))
    assert rest == bare


def test_header_with_head_count_and_short_inputs(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_bytes(b"h1\nh2\n" + lines(0, 100))
    out = ok(run(shuf_big_cmd, "--header", 2, "-n", 5, a))
    assert out.splitlines()[:2] == [b"h1", b"h2"] and len(out.splitlines()) == 7
    short = tmp_path / "short.csv"
    short.write_bytes(b"only")
    assert ok(run(shuf_big_cmd, "--header", 3, short)) == b"only\n"
    # a later input must start with the same header (see tests/test_headers.py)
    one_error(run(shuf_big_cmd, "--header", 1, a, short), "does not start with the header of")
    same = tmp_path / "same.csv"
    same.write_bytes(b"h1\n")  # the header and no record
    out = ok(run(shuf_big_cmd, "--header", 1, a, same))
    assert out.count(b"h1") == 1 and len(out.splitlines()) == 102  # a later header is dropped


# -- record separators -----------------------------------------------------------------------


def documents(n: int) -> list[bytes]:
    return [b"# doc %d\n" % i + b"".join(b"line %d.%d\n" % (i, j) for j in range(i % 4 + 1)) for i in range(n)]


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_blank_line_separated_documents_stay_whole(shuf_big_cmd: list[str], tmp_path: Path, mem: str) -> None:
    docs = documents(2000)
    messy = b"\n\n" + b"\n\n\n".join(docs) + b"\n"  # leading and extra blank lines
    src = tmp_path / "docs.txt"
    src.write_bytes(messy)
    out = ok(run(shuf_big_cmd, "--record-separator", "", src, "--mem", mem, "--seed", 4))
    assert not out.endswith(b"\n\n") and out.endswith(b"\n")
    parts = out.split(b"\n\n")
    assert sorted(p + b"\n" if not p.endswith(b"\n") else p for p in parts) == sorted(docs)
    assert parts != [d.rstrip(b"\n") for d in docs]  # shuffled
    again = ok(run(shuf_big_cmd, "--record-separator", "", src, "--mem", "1G", "--seed", 4))
    assert again == out  # same seed, same bytes whatever --mem


@pytest.mark.parametrize("sep", ["\\x1e", "</doc>\\n", "\\t"])
@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_custom_record_separator(shuf_big_cmd: list[str], tmp_path: Path, sep: str, mem: str) -> None:
    token = sep.encode().decode("unicode_escape").encode()
    recs = [b"<doc id=%d>\nsome text %d\n" % (i, i) + token for i in range(3000)]
    src = tmp_path / "in.bin"
    src.write_bytes(b"".join(recs)[: -len(token)])  # the last record lacks its separator
    out = ok(run(shuf_big_cmd, "--record-separator", sep, src, "--mem", mem, "--seed", 8))
    assert out.endswith(token)
    assert sorted(r + token for r in out[: -len(token)].split(token)) == sorted(recs)


def test_separator_errors(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    one_error(run(shuf_big_cmd, "-z", "--record-separator", ";", input=b"a"), "cannot be combined")
    one_error(run(shuf_big_cmd, "--record-separator", "\\x", input=b"a"), "invalid --record-separator")


@given(
    st.lists(st.binary(max_size=30), max_size=60),
    st.sampled_from([b"\n", b"\x00", b"ab", b"\n\n", b"<|>", b"aaa"]),
    st.sampled_from(["16K", "64K", "1G"]),
    st.integers(0, 2**64 - 1),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_separator_gives_a_permutation(
    tmp_path: Path, chunks: list[bytes], token: bytes, mem: str, seed: int
) -> None:
    blob = b"".join(chunks)
    (tmp_path / "in").write_bytes(blob)
    shuf_big.shuffle(tmp_path / "in", tmp_path / "out", mem=mem, seed=seed, record_separator=token, jobs=1)
    out = (tmp_path / "out").read_bytes()
    expected = blob + core.terminator(np.frombuffer(blob, dtype=np.uint8), token)
    # the records as bytes.split sees them, each with its separator
    assert sorted(out.split(token)) == sorted(expected.split(token))
    assert len(out) == len(expected)
    shuf_big.shuffle(tmp_path / "in", tmp_path / "again", mem="1G", seed=seed, record_separator=token, jobs=2)
    assert (tmp_path / "again").read_bytes() == out


# -- shards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_shards_cut_the_one_shuffle_into_near_equal_files(shuf_big_cmd: list[str], tmp_path: Path, mem: str) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(lines(0, 10001))
    whole = ok(run(shuf_big_cmd, src, "--seed", 6, "--mem", mem))
    pattern = str(tmp_path / "train-{shard:05d}-of-{shards:05d}.txt")
    ok(run(shuf_big_cmd, src, "--seed", 6, "--mem", mem, "--shards", 4, "-o", pattern))
    files = [tmp_path / f"train-{i:05d}-of-00004.txt" for i in range(4)]
    counts = [len(f.read_bytes().splitlines()) for f in files]
    assert counts == [2500, 2500, 2500, 2501]
    assert b"".join(f.read_bytes() for f in files) == whole


def test_shards_compressed_with_header_and_more_shards_than_records(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"name,value\n" + lines(0, 3))
    ok(run(shuf_big_cmd, src, "--header", 1, "--shards", 5, "-o", tmp_path / "s{shard}.csv.gz"))
    shards = [gzip.decompress((tmp_path / f"s{i}.csv.gz").read_bytes()) for i in range(5)]
    assert all(s.startswith(b"name,value\n") for s in shards)
    assert sorted(len(s.splitlines()) - 1 for s in shards) == [0, 0, 1, 1, 1]


def test_shard_pattern_errors(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    one_error(run(shuf_big_cmd, "--shards", 3, "-o", tmp_path / "same.txt", input=b"a\n"), "{shard}")
    one_error(run(shuf_big_cmd, "--shards", 3, input=b"a\n"), "--shards needs -o PATTERN")
    one_error(run(shuf_big_cmd, "--shards", 2, "-o", tmp_path / "{part}", input=b"a\n"), "unknown field {part}")
    assert not list(tmp_path.iterdir())


@given(
    st.lists(st.binary(max_size=40) | st.binary(min_size=4000, max_size=9000), max_size=80),
    st.sampled_from([b"\n", b"\x00", b"ab", b"aaa"]),
    st.sampled_from(["16K", "64K", "1G"]),
    st.integers(1, 7),
    st.sampled_from([1, 2]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shards_are_the_one_shuffle_cut_by_record_counts(
    tmp_path: Path, chunks: list[bytes], token: bytes, mem: str, shards: int, jobs: int
) -> None:
    """Whatever the records (long ones written uncopied, separators spanning writes), shard
    ``s`` holds records ``[s * n // K, (s + 1) * n // K)`` of the unsharded output."""
    (tmp_path / "in").write_bytes(b"".join(chunks))
    options = {"mem": mem, "seed": SEED, "record_separator": token, "jobs": jobs}
    shuf_big.shuffle(tmp_path / "in", tmp_path / "whole", **options)
    result = shuf_big.shuffle(tmp_path / "in", str(tmp_path / "s{shard}"), shards=shards, **options)
    files = [(tmp_path / f"s{i}").read_bytes() for i in range(shards)]
    assert b"".join(files) == (tmp_path / "whole").read_bytes()
    counts = [len(core.StreamFramer(token).feed(np.frombuffer(f, dtype=np.uint8))) for f in files]
    n = sum(counts)
    assert counts == [(s + 1) * n // shards - s * n // shards for s in range(shards)]
    assert result.shard_records == counts


def test_failed_sharded_run_writes_no_shard(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    big = tmp_path / "in.txt"
    big.write_bytes(lines(0, 50) + b"x" * 40000 + b"\n")  # a record longer than --mem
    result = run(shuf_big_cmd, big, "--mem", "16K", "--shards", 3, "-o", tmp_path / "out-{shard}.txt")
    one_error(result, "larger than the memory budget")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


# -- aligned parallel corpora ----------------------------------------------------------------


@pytest.mark.parametrize("mem", ["1G", "64K"], ids=["in-memory", "external"])
def test_aligned_inputs_get_one_permutation(shuf_big_cmd: list[str], tmp_path: Path, mem: str) -> None:
    n = 5000
    de = tmp_path / "train.de"
    en = tmp_path / "train.en"
    de.write_bytes(b"".join(b"satz %d\n" % i for i in range(n)))
    en.write_bytes(b"".join(b"sentence %d with more words\n" % i for i in range(n)))
    outs = [tmp_path / "train.de.shuf", tmp_path / "train.en.shuf"]
    ok(run(shuf_big_cmd, "--aligned", de, en, "-o", outs[0], "-o", outs[1], "--mem", mem, "--seed", 11))
    left = outs[0].read_bytes().splitlines()
    right = outs[1].read_bytes().splitlines()
    assert [x.split()[1] for x in left] == [y.split()[1] for y in right]  # pairs stay together
    assert sorted(left) == sorted(de.read_bytes().splitlines())
    assert left != de.read_bytes().splitlines()


def test_aligned_counts_must_agree_and_nothing_is_written(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    de = tmp_path / "de"
    en = tmp_path / "en"
    de.write_bytes(lines(0, 100))
    en.write_bytes(lines(0, 99))
    (tmp_path / "de.out").write_bytes(b"old\n")
    result = run(shuf_big_cmd, "--aligned", de, en, "-o", tmp_path / "de.out", "-o", tmp_path / "en.out")
    one_error(result, f"'{de}' has 100, '{en}' has 99")
    assert (tmp_path / "de.out").read_bytes() == b"old\n"
    assert not (tmp_path / "en.out").exists()
    assert sorted(os.listdir(tmp_path)) == ["de", "de.out", "en"]


def test_aligned_needs_one_output_per_input(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1\n")
    (tmp_path / "b").write_bytes(b"2\n")
    one_error(run(shuf_big_cmd, "--aligned", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "x"), "one -o per input")
    one_error(run(shuf_big_cmd, tmp_path / "a", "-o", tmp_path / "x", "-o", tmp_path / "y"), "multiple output files")


# -- option parsing --------------------------------------------------------------------------


def test_cli_passes_corpus_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr("shuf_big.cli.command.shuffle", lambda *a, **k: calls.append((a, k)))
    args = [
        "a",
        "b",
        "--header",
        "2",
        "--record-separator",
        "\\x1e",
        "--shards",
        "3",
        "-o",
        "o{shard}",
        "--decompress",
        "xz",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (positional, kwargs) = calls[0]
    assert positional == (["a", "b"], ["o{shard}"])
    assert kwargs["header"] == 2 and kwargs["shards"] == 3 and kwargs["decompress"] == "xz"
    assert kwargs["record_separator"] == b"\x1e" and kwargs["aligned"] is False
