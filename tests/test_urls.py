"""URLs other than S3: ``memory://`` (fsspec's in-process store, through the API), ``file://``,
``https://`` from a web server on 127.0.0.1 (with and without ``Range``), the storage
options, and the one-line hints for stores whose library is not installed."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import fsspec
import pytest
from helpers import ShufBig, assert_one_error_line, seq, words
from servers import web_server

import shuf_big
from shuf_big.storage.urls import StorageOptions

SEED = 11


def test_memory_urls_in_and_out_give_the_local_bytes(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    data = [seq(300_000), words(20_000, 5)]  # over --mem 1M: the external shuffle
    for number, chunk in enumerate(data):
        fs.pipe(f"/urls-test/in-{number}.txt", chunk)
        (tmp_path / f"in-{number}.txt").write_bytes(chunk)
    local = tmp_path / "out.txt"
    shuf_big.shuffle([str(tmp_path / "in-0.txt"), str(tmp_path / "in-1.txt")], str(local), seed=SEED, mem="1M")
    result = shuf_big.shuffle("memory://urls-test/in-*.txt", "memory://urls-test/out.txt", seed=SEED, mem="1M")
    assert result.path == "external"
    assert fs.cat("/urls-test/out.txt") == local.read_bytes()
    shuf_big.shuffle(
        "memory://urls-test/in-*.txt", "memory://urls-test/part-{shard}.txt.gz", seed=SEED, shards=2, mem="1M"
    )
    parts = [gzip.decompress(fs.cat(f"/urls-test/part-{s}.txt.gz")) for s in range(2)]
    assert b"".join(parts) == local.read_bytes()


def test_a_failed_memory_run_writes_nothing() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/urls-fail/in.txt", b"x" * 100_000 + b"\n")
    with pytest.raises(shuf_big.ShufBigError, match="larger than the memory budget"):
        shuf_big.shuffle("memory://urls-fail/in.txt", "memory://urls-fail/out.txt", mem="64K")
    assert not fs.exists("/urls-fail/out.txt")


def test_file_urls_are_local_paths(sb: ShufBig, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(seq(100))
    (tmp_path / "b.txt").write_bytes(seq(50))
    done = sb.run(f"file://{tmp_path}/*.txt", "-o", f"file://{tmp_path}/out.txt", "--seed", SEED)
    assert done.returncode == 0, done.stderr
    expected = sb.run(tmp_path / "a.txt", tmp_path / "b.txt", "--seed", SEED).stdout
    assert (tmp_path / "out.txt").read_bytes() == expected


@pytest.mark.skipif(importlib.util.find_spec("aiohttp") is None, reason="https:// needs aiohttp")
@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
def test_web_inputs_with_and_without_range_requests(sb: ShufBig, tmp_path: Path, ranges: bool) -> None:
    served = tmp_path / "site"
    served.mkdir()
    (served / "corpus.txt").write_bytes(words(50_000, 2))
    (served / "more.txt.gz").write_bytes(gzip.compress(seq(1000)))
    with web_server(served, ranges) as base:
        done = sb.run(f"{base}/corpus.txt", f"{base}/more.txt.gz", "--seed", SEED, "--mem", "1M")
        missing = sb.run(f"{base}/missing.txt")
    assert done.returncode == 0, done.stderr
    (tmp_path / "more.txt").write_bytes(seq(1000))
    assert done.stdout == sb.run(served / "corpus.txt", tmp_path / "more.txt", "--seed", SEED, "--mem", "1M").stdout
    assert missing.returncode == 1
    assert_one_error_line(missing.stderr, f"{base}/missing.txt", "No such file")


@pytest.mark.parametrize(
    ("url", "library", "extra"),
    [
        ("gs://b/x.txt", "gcsfs", "gcs"),
        ("hf://datasets/o/r/x.txt", "huggingface_hub", "hf"),
        ("az://c/x", "adlfs", "azure"),
    ],
)
def test_a_missing_store_library_is_an_install_hint(sb: ShufBig, url: str, library: str, extra: str) -> None:
    if importlib.util.find_spec(library) is not None:
        pytest.skip(f"{library} is installed")
    done = sb.run(url)
    assert done.returncode == 1
    protocol = url.partition("://")[0]
    assert_one_error_line(
        done.stderr,
        f"{protocol}:// needs {library}: pip install 'shuf-big[{extra}]' (from a clone: pip install '.[{extra}]')",
    )


def test_an_unknown_protocol_and_a_glob_that_matches_nothing_are_errors(sb: ShufBig) -> None:
    done = sb.run("nosuch://x/y")
    assert_one_error_line(done.stderr, "'nosuch://x/y'", "unknown storage protocol")
    done = shuf_big_error("memory://urls-none/*.txt")
    assert "memory://urls-none/*.txt" in done and "No such file" in done


def shuf_big_error(src: str) -> str:
    with pytest.raises(shuf_big.ShufBigError) as caught:
        shuf_big.shuffle(src, "-")
    return str(caught.value)


def test_storage_options_parse_json_values_and_protocol_prefixes() -> None:
    parsed = StorageOptions.parse(["anon=true", "s3.endpoint_url=http://127.0.0.1:9000", "gs.project=p", "n=8"])
    assert parsed.common == {"anon": True, "n": 8}
    assert parsed.for_protocol("gs") == {"anon": True, "n": 8, "project": "p"}
    s3 = parsed.for_protocol("s3")
    assert s3["endpoint_url"] == "http://127.0.0.1:9000" and s3["config_kwargs"]["connect_timeout"] == 10
    merged = StorageOptions.parse({"s3": {"config_kwargs": {"connect_timeout": 3}}}).for_protocol("s3")
    assert merged["config_kwargs"]["connect_timeout"] == 3 and "retries" in merged["config_kwargs"]
    with pytest.raises(shuf_big.ShufBigError, match="KEY=VALUE"):
        StorageOptions.parse(["novalue"])
