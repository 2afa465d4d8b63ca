"""Compressed temp files (``--compress-temp``): the same bytes in every mode, a preflight that
knows the compressed size, memory within ``--mem``, nothing left behind.

Space cases run on real small file systems (size-limited tmpfs mounts; skipped where the
kernel refuses to mount them).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import ShufBig, after_ram_warning, assert_one_error_line, reaped, stopped_at
from test_memory import INTERPRETER_ALLOWANCE, SLACK, _peaks, digest, write_corpus
from test_stability import SEED, check, lines, run

import shuf_big
from shuf_big.system.signals import STOP_ENV

MiB = 1 << 20
PRECIOUS = b"an output from an earlier run\n"


def prose(nbytes: int, seed: int = 1) -> bytes:
    """Lines of words from a 3,000-word vocabulary: text that compresses like a corpus's
    (about 0.35x at zstd level 1), unlike random letters."""
    rng = np.random.default_rng(seed)
    vocabulary = [bytes(rng.integers(97, 123, rng.integers(2, 11), dtype=np.uint8)) for _ in range(3000)]
    out: list[bytes] = []
    total = 0
    while total < nbytes:
        line = b" ".join(vocabulary[i] for i in rng.zipf(1.3, rng.integers(3, 15)) % 3000) + b"\n"
        out.append(line)
        total += len(line)
    return b"".join(out)


# -- the same bytes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"mem": "16K", "jobs": 1}, {"mem": "64K", "jobs": 2}, {"mem": "64K", "jobs": 3}, {"mem": "1M", "jobs": 1}],
    ids=["16K-j1", "64K-j2", "64K-j3", "1M-j1"],
)
def test_compressed_temp_files_give_the_pinned_bytes(tmp_path: Path, options: dict[str, object]) -> None:
    """The stability pins hold with every temp file compressed, whatever the budget and jobs."""
    src = tmp_path / "lines.txt"
    src.write_bytes(lines())
    check("lines", run(tmp_path, str(src), compress_temp="always", **options))
    result = shuf_big.shuffle(str(src), str(tmp_path / "again.txt"), seed=SEED, compress_temp="always", **options)
    assert result.path == "external" and result.temp_compressed
    assert 0 < result.temp_bytes < result.temp_plain
    plain = shuf_big.shuffle(str(src), str(tmp_path / "plain.txt"), seed=SEED, compress_temp="never", **options)
    assert not plain.temp_compressed and plain.temp_bytes == plain.temp_plain == result.temp_plain


def test_every_pinned_mode_with_compressed_temp_files(tmp_path: Path) -> None:
    """Header, shards, NUL and paragraph and multi-byte separators, aligned inputs."""
    src = tmp_path / "lines.txt"
    src.write_bytes(lines())
    mem = {"mem": "32K", "compress_temp": "always"}
    check("lines-header1", run(tmp_path, str(src), header=1, **mem))
    pattern = str(tmp_path / "part-{shard}.txt")
    shuf_big.shuffle(str(src), pattern, seed=SEED, shards=3, **mem)  # type: ignore[arg-type]
    check("lines-shards3", *[(tmp_path / f"part-{s}.txt").read_bytes() for s in range(3)])
    zero = tmp_path / "z.bin"
    zero.write_bytes(lines(3000, b"z").replace(b"\n", b"\0"))
    check("zero", run(tmp_path, str(zero), zero_terminated=True, **mem))
    paragraphs = tmp_path / "p.txt"
    paragraphs.write_bytes(lines(4000, b"p").replace(b"0\n", b"0\n\n\n"))
    check("paragraphs", run(tmp_path, str(paragraphs), record_separator="", **mem))
    docs = tmp_path / "d.txt"
    docs.write_bytes(lines(4000, b"d").replace(b"7\n", b"7\n</doc>\n"))
    check("docs", run(tmp_path, str(docs), record_separator="</doc>\n", **mem))
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(lines(5000, b"a"))
    b.write_bytes(lines(5000, b"b"))
    outs = [str(tmp_path / "a.out"), str(tmp_path / "b.out")]
    shuf_big.shuffle([str(a), str(b)], outs, seed=SEED, aligned=True, **mem)  # type: ignore[arg-type]
    check("aligned", *[Path(o).read_bytes() for o in outs])


def test_a_record_longer_than_the_read_buffer_is_compressed_too(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    long = b"x" * (3 * MiB) + b"\n"
    src.write_bytes(lines(2000)[:40_000] + long + lines(2000)[40_000:])
    plain = run(tmp_path, str(src), mem="4M", compress_temp="never")
    assert run(tmp_path, str(src), mem="4M", compress_temp="always") == plain
    assert long in plain


# -- the preflight, on small file systems ----------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    src = tmp_path / "corpus.txt"
    src.write_bytes(prose(24 * MiB))
    return src


def test_auto_compresses_when_a_plain_run_does_not_fit(
    sb: ShufBig, corpus: Path, tmp_path: Path, mount_tmpfs: object
) -> None:
    """A temp file system of 0.6x the input: ``never`` is refused before a temp byte is
    written; the default run compresses, says so in one line, and gives the same bytes."""
    small = mount_tmpfs("small", int(0.6 * corpus.stat().st_size))  # type: ignore[operator]
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    refused = sb.run(corpus, "-o", out, "--mem", "16M", "-T", small, "--compress-temp", "never", "--seed", 4)
    assert refused.returncode == 1
    assert_one_error_line(after_ram_warning(refused.stderr, small), "not enough space", str(small), "(use -T)")
    assert out.read_bytes() == PRECIOUS and os.listdir(small) == []
    done = sb.run(corpus, "-o", out, "--mem", "16M", "-T", small, "--seed", 4, "-v")
    assert done.returncode == 0, done.stderr
    notice, *report = after_ram_warning(done.stderr, small).decode().splitlines()
    assert notice.startswith("shuf-big: temp space: ") and f"free in '{small}'" in notice, notice
    assert "a plain run needs about " in notice and notice.endswith(" expected)") and "compressing" in notice
    assert any("of temp files (compressed, 0." in line for line in report), report
    reference = sb.run(corpus, "--mem", "16M", "-T", tmp_path, "--seed", 4, "--compress-temp", "never")
    assert out.read_bytes() == reference.stdout
    assert os.listdir(small) == []


def test_a_temp_file_system_too_small_even_compressed_is_refused_at_once(
    sb: ShufBig, corpus: Path, tmp_path: Path, mount_tmpfs: object
) -> None:
    tiny = mount_tmpfs("tiny", int(0.15 * corpus.stat().st_size))  # type: ignore[operator]
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    for mode in ("auto", "always"):
        done = sb.run(corpus, "-o", out, "--mem", "16M", "-T", tiny, "--compress-temp", mode)
        assert done.returncode == 1
        message = assert_one_error_line(
            after_ram_warning(done.stderr, tiny), f"'{tiny}' even for compressed temp files", "uncompressed"
        )
        assert "need about " in message and " free " in message
        assert out.read_bytes() == PRECIOUS and os.listdir(tiny) == [] and sb.leftovers() == []


def test_compressed_temp_files_filling_the_disk_are_the_clean_disk_full_error(
    sb: ShufBig, corpus: Path, tmp_path: Path, mount_tmpfs: object
) -> None:
    """Where no estimate can refuse the run (a stream through a pipe), packed bucket writes
    that fill the temp file system fail as plain ones do: one line, -o kept, nothing left."""
    small = mount_tmpfs("small", 2 * MiB)  # type: ignore[operator]
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    done = sb.run("--mem", "1M", "-T", small, "-o", out, "--compress-temp", "always", input=corpus.read_bytes())
    assert done.returncode == 1
    assert_one_error_line(
        after_ram_warning(done.stderr, small), f"write error in temporary directory '{small}", "No space left on device"
    )
    assert out.read_bytes() == PRECIOUS and os.listdir(small) == [] and sb.leftovers(small) == []


def test_two_temp_directories_on_one_file_system_share_its_space(
    sb: ShufBig, corpus: Path, tmp_path: Path, mount_tmpfs: object
) -> None:
    """Two -T on one file system do not count its free space twice; on two they add up."""
    size = corpus.stat().st_size
    one = mount_tmpfs("one", int(0.6 * size))  # type: ignore[operator]
    other = mount_tmpfs("other", int(0.6 * size))  # type: ignore[operator]
    (one / "a").mkdir()
    (one / "b").mkdir()
    args = [corpus, "--mem", "16M", "--compress-temp", "never", "--seed", 4]
    shared = sb.run(*args, "-T", one / "a", "-T", one / "b")
    assert shared.returncode == 1 and b"not enough space in temporary directories" in shared.stderr
    apart = sb.run(*args, "-T", one / "a", "-T", other)
    assert apart.returncode == 0, apart.stderr
    assert sorted(apart.stdout.splitlines()) == sorted(corpus.read_bytes().splitlines())


# -- memory and leftovers --------------------------------------------------------------------


def test_compressed_temp_files_stay_under_the_budget(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    """Peak RSS beyond a two-line run's stays within --mem with every batch compressed."""
    mem = 16 * MiB
    src = tmp_path / "in.txt"
    write_corpus(src, 8 * mem, (5, 15), seed=3)
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(b"a\nb\n")
    out = tmp_path / "out.txt"
    flags = ["-o", str(out), "--mem", "16M", "-T", str(tmp_path), "--seed", "1", "--compress-temp", "always"]
    baseline, _, _ = _peaks([*shuf_big_cmd, str(tiny), *flags])
    max_rss, _, _ = _peaks([*shuf_big_cmd, str(src), *flags])
    assert baseline <= INTERPRETER_ALLOWANCE
    assert max_rss - baseline <= mem + SLACK, f"{(max_rss - baseline) / MiB:.1f} MiB over a two-line run"
    assert digest(out) == digest(src)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_compressed_run_leaves_nothing(shuf_big_cmd: list[str], tmp_path: Path, signum: int) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(lines(40_000))
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out.txt"
    out.write_bytes(PRECIOUS)
    argv = [*shuf_big_cmd, str(src), "--mem", "64K", "-T", str(temp), "-o", str(out), "--compress-temp", "always"]
    env = {k: v for k, v in os.environ.items() if k != STOP_ENV}
    with reaped(stopped_at("pass 2 started", argv, env)) as proc:
        proc.send_signal(signum)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=60) == -signum  # killed by it, as a shell shows 128 + signum
    assert out.read_bytes() == PRECIOUS
    assert os.listdir(temp) == [] and [p.name for p in tmp_path.iterdir() if ".shuf-big" in p.name] == []


# -- the Dask engine's spill files ------------------------------------------------------------


def test_dask_spill_files_compressed_give_the_pinned_bytes(tmp_path: Path, cluster: object) -> None:
    """``always`` compresses the spills of a local --temp-url; ``auto`` those on object
    storage (memory:// here), where bytes are paid for; the bytes are the pinned ones."""
    src = tmp_path / "lines.txt"
    src.write_bytes(lines())
    (tmp_path / "tmp").mkdir()
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    dask = {"engine": "dask", "scheduler": address, "mem": "64K"}
    out = tmp_path / "out.txt"
    for temp_url, mode in ((str(tmp_path / "tmp"), "always"), ("memory://spills", "auto")):
        result = shuf_big.shuffle(str(src), str(out), seed=SEED, temp_url=temp_url, compress_temp=mode, **dask)
        assert result.temp_compressed
        check("lines", out.read_bytes())
    plain = shuf_big.shuffle(str(src), str(out), seed=SEED, temp_url=str(tmp_path / "tmp"), **dask)
    assert not plain.temp_compressed  # auto, with ample local space
    check("lines", out.read_bytes())
    assert os.listdir(tmp_path / "tmp") == []
