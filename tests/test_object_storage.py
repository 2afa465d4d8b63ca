"""Object storage with the local engine: S3 URLs in and out through the real s3fs client,
pointed by the environment at an S3 server on 127.0.0.1 (as a user points it at MinIO).

The output of a URL run is the output of the same run on local files, byte for byte; no
object appears before the run has succeeded, and a failed or interrupted run leaves no
object and no incomplete multipart upload behind.
"""

from __future__ import annotations

import functools
import gzip
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers import ShufBig, assert_one_error_line, reaped, seq, stopped_at, words

from shuf_big.budget.sizes import format_size

pytest.importorskip("s3fs")

SEED = 7


@functools.cache
def big() -> bytes:
    """About 12 MB of varied lines: several 5 MiB parts at --mem 64M."""
    return words(600_000, 3)


def local_shuffle(sb: ShufBig, tmp_path: Path, *chunks: bytes, args: tuple[object, ...] = ()) -> bytes:
    """The output of the same run on local copies of ``chunks``: what a URL run must give."""
    paths = []
    for number, chunk in enumerate(chunks):
        path = tmp_path / f"local-{number}.txt"
        path.write_bytes(chunk)
        paths.append(path)
    done = sb.run(*paths, "--seed", SEED, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_s3_inputs_give_the_bytes_of_the_same_local_files(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    chunks = [seq(5000), words(3000, 1), b"no newline at the end"]
    for number, chunk in enumerate(chunks):
        s3.put(bucket, f"corpus/part-{number}.txt", chunk)
    urls = [f"s3://{bucket}/corpus/part-{n}.txt" for n in range(3)]
    done = s3_sb.run(*urls, "--seed", SEED)
    assert done.returncode == 0, done.stderr
    assert done.stdout == local_shuffle(s3_sb, tmp_path, *chunks)
    # A glob is expanded by the store and sorted, as a shell sorts paths.
    globbed = s3_sb.run(f"s3://{bucket}/corpus/part-*.txt", "--seed", SEED)
    assert globbed.stdout == done.stdout


def test_external_shuffle_from_s3_to_s3_in_parts(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    done = s3_sb.run(f"s3://{bucket}/big.txt", "-o", f"s3://{bucket}/out.txt", "--seed", SEED, "--mem", "64M", "-v")
    assert done.returncode == 0, done.stderr
    assert b"external" in done.stderr  # the two-pass path, bucket to bucket
    [storage] = [line for line in done.stderr.decode().splitlines() if "storage:" in line]
    once = format_size(len(big()))
    assert f"{once} downloaded, {once} uploaded" in storage, storage  # the corpus once each way, not twice
    assert s3.get(bucket, "out.txt") == local_shuffle(s3_sb, tmp_path, big(), args=("--mem", "64M"))
    assert s3.uploads(bucket) == []


def test_files_from_lists_urls_and_errors_name_the_line(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "a.txt", seq(100))
    listing = tmp_path / "shards.txt"
    listing.write_text(f"s3://{bucket}/a.txt\n\ns3://{bucket}/missing.txt\n")
    done = s3_sb.run("--files-from", listing)
    assert done.returncode == 1
    assert_one_error_line(done.stderr, f"{listing}:3:", f"s3://{bucket}/missing.txt", "No such file")
    listing.write_text(f"s3://{bucket}/a.txt\ns3://{bucket}/a.*\n")
    twice = s3_sb.run("--files-from", listing, "--seed", SEED)
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout == local_shuffle(s3_sb, tmp_path, seq(100), seq(100))


def test_sharded_compressed_outputs_appear_together(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "in.txt.gz", gzip.compress(seq(20_000)))
    pattern = f"s3://{bucket}/train-{{shard:02d}}.txt.gz"
    done = s3_sb.run(f"s3://{bucket}/in.txt.gz", "--shards", 3, "-o", pattern, "--seed", SEED)
    assert done.returncode == 0, done.stderr
    assert s3.keys(bucket) == ["in.txt.gz", "train-00.txt.gz", "train-01.txt.gz", "train-02.txt.gz"]
    joined = b"".join(gzip.decompress(s3.get(bucket, f"train-{s:02d}.txt.gz")) for s in range(3))
    assert joined == local_shuffle(s3_sb, tmp_path, seq(20_000))


def test_head_count_streams_from_s3(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    done = s3_sb.run(f"s3://{bucket}/big.txt", "-n", 5, "--seed", SEED)
    assert done.returncode == 0, done.stderr
    assert done.stdout == local_shuffle(s3_sb, tmp_path, big(), args=("-n", 5))


@pytest.mark.parametrize(
    ("where", "needle"),
    [("missing.txt", "No such file or directory"), ("../no-such-bucket-here/x.txt", "No such bucket")],
)
def test_missing_inputs_are_one_line_errors(s3_sb: ShufBig, s3: Any, where: str, needle: str) -> None:
    bucket = s3.bucket()
    url = f"s3://{bucket}/{where}".replace(f"{bucket}/../", "")
    done = s3_sb.run(url, "-o", f"s3://{bucket}/out.txt")
    assert done.returncode == 1
    assert_one_error_line(done.stderr, url, needle)
    assert s3.keys(bucket) == [] and s3.uploads(bucket) == []


def test_an_unwritable_output_fails_before_the_input_is_read(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "in.txt", seq(10))
    done = s3_sb.run(f"s3://{bucket}/in.txt", "-o", "s3://no-such-bucket-out/out.txt")
    assert done.returncode == 1
    assert_one_error_line(done.stderr, "cannot write 's3://no-such-bucket-out/out.txt'", "No such bucket")


def test_no_credentials_and_no_endpoint_are_one_line_errors(sb: ShufBig, s3: Any) -> None:
    bucket = s3.bucket()
    bare = {k: v for k, v in sb.env.items() if not k.startswith("AWS_")}
    bare.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull, AWS_ENDPOINT_URL=s3.endpoint)
    bare["AWS_EC2_METADATA_DISABLED"] = "true"
    done = sb.run(f"s3://{bucket}/x.txt", env=bare)
    assert done.returncode == 1
    assert_one_error_line(done.stderr, f"s3://{bucket}/x.txt", "no credentials", "AWS_ACCESS_KEY_ID")
    closed = {**bare, **s3.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # the discard port: nothing listens
    no_retries = 's3.config_kwargs={"retries": {"max_attempts": 1}}'  # JSON, merged with shuf-big's
    done = sb.run(f"s3://{bucket}/x.txt", "--storage-option", no_retries, env=closed)
    assert done.returncode == 1
    assert_one_error_line(done.stderr, "cannot connect to the endpoint", "AWS_ENDPOINT_URL")


def test_a_failed_run_keeps_the_old_object_and_leaves_no_upload(s3_sb: ShufBig, s3: Any) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "out.txt", b"old bytes\n")
    s3.put(bucket, "big.txt", big())
    # A record longer than the budget fails the run in pass 2, after parts were uploaded.
    s3.put(bucket, "long.txt", b"x" * (3 << 20) + b"\n")
    inputs = [f"s3://{bucket}/big.txt", f"s3://{bucket}/long.txt"]
    done = s3_sb.run(*inputs, "-o", f"s3://{bucket}/out.txt", "--mem", "2M")
    assert done.returncode == 1, done.stderr
    assert s3.get(bucket, "out.txt") == b"old bytes\n"
    assert s3.uploads(bucket) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_sharded_run_leaves_no_object_and_no_upload(
    s3_sb: ShufBig, s3: Any, signum: signal.Signals
) -> None:
    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    s3.put(bucket, "part-1.txt", b"old shard\n")
    pattern = f"s3://{bucket}/part-{{shard}}.txt"
    argv = s3_sb.argv(f"s3://{bucket}/big.txt", "--shards", 2, "-o", pattern, "--mem", "64M")
    with reaped(stopped_at("shards written", argv, s3_sb.env)) as proc:
        assert s3.uploads(bucket) == ["part-0.txt", "part-1.txt"]  # every shard is up, none complete
        assert s3.keys(bucket) == ["big.txt", "part-1.txt"]
        proc.send_signal(signum)
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == -signum  # died by it, as coreutils do, after cleaning up
    assert s3.keys(bucket) == ["big.txt", "part-1.txt"]
    assert s3.get(bucket, "part-1.txt") == b"old shard\n"
    assert s3.uploads(bucket) == []


def test_every_seventh_request_failing_with_503_still_gives_the_same_bytes(
    s3_sb: ShufBig, s3: Any, tmp_path: Path
) -> None:
    from servers import fault_proxy

    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    s3.put(bucket, "small.txt", seq(1000))
    with fault_proxy(s3.endpoint, every=7) as (endpoint, proxy):
        s3_sb.env["AWS_ENDPOINT_URL"] = endpoint
        inputs = [f"s3://{bucket}/big.txt", f"s3://{bucket}/small.txt"]
        done = s3_sb.run(
            *inputs, "--shards", 2, "-o", f"s3://{bucket}/out-{{shard}}.txt", "--mem", "64M", "--seed", SEED
        )
        assert done.returncode == 0, done.stderr
        assert proxy.faults >= 2  # pass 1's reads, the uploads and the commits met some
    joined = s3.get(bucket, "out-0.txt") + s3.get(bucket, "out-1.txt")
    assert joined == local_shuffle(s3_sb, tmp_path, big(), seq(1000), args=("--mem", "64M"))
    assert s3.uploads(bucket) == []


def test_aligned_s3_inputs_and_outputs_get_the_local_files_permutation(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    """``--aligned`` with URLs: both outputs appear together, with the bytes of the same run
    on local files; counts that differ leave no object and no upload behind."""
    bucket = s3.bucket()
    de = b"".join(b"satz %d\n" % i for i in range(4000))
    en = b"".join(b"sentence %d with more words\n" % i for i in range(4000))
    s3.put(bucket, "train.de", de)
    s3.put(bucket, "train.en", en)
    urls = [f"s3://{bucket}/train.de", f"s3://{bucket}/train.en"]
    outs = [f"s3://{bucket}/shuf/train.de", f"s3://{bucket}/shuf/train.en"]
    done = s3_sb.run("--aligned", *urls, "-o", outs[0], "-o", outs[1], "--mem", "1M", "--seed", SEED)
    assert done.returncode == 0, done.stderr
    (tmp_path / "de").write_bytes(de)
    (tmp_path / "en").write_bytes(en)
    local = [tmp_path / "de.out", tmp_path / "en.out"]
    ran = s3_sb.run("--aligned", tmp_path / "de", tmp_path / "en", "-o", local[0], "-o", local[1], "--mem", "1M",
                    "--seed", SEED)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert [s3.get(bucket, "shuf/train.de"), s3.get(bucket, "shuf/train.en")] == [p.read_bytes() for p in local]
    s3.put(bucket, "short.en", en[: en.rindex(b"sentence")])
    failed = s3_sb.run("--aligned", urls[0], f"s3://{bucket}/short.en", "-o", f"s3://{bucket}/x.de", "-o",
                       f"s3://{bucket}/x.en")  # fmt: skip
    assert failed.returncode == 1
    assert_one_error_line(failed.stderr, "has 4000", "has 3999")
    assert [k for k in s3.keys(bucket) if k.startswith("x.")] == [] and s3.uploads(bucket) == []
