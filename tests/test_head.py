"""-n/--head-count: the first COUNT lines of the full shuffle, in one pass, O(COUNT) memory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import chisquare

import shuf_big

MiB = 1 << 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("head") / "in.txt"
    path.write_bytes(b"".join(b"line %d %s\n" % (i, b"z" * (i % 37)) for i in range(200_000)))
    return path


def run_api(src: Path, tmp: Path, **kwargs: object) -> list[bytes]:
    dst = tmp / "out.txt"
    shuf_big.shuffle(src, dst, seed=11, tmp_dirs=[str(tmp)], **kwargs)  # type: ignore[arg-type]
    return dst.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("mem", ["256K", "4M", "1G"])
@pytest.mark.parametrize("count", [1, 5, 300])
def test_head_is_the_start_of_the_full_shuffle(corpus: Path, tmp_path: Path, mem: str, count: int) -> None:
    full = run_api(corpus, tmp_path, mem="1G")
    assert run_api(corpus, tmp_path, mem=mem, head_count=count) == full[:count]


def test_count_above_the_line_count_gives_the_whole_shuffle(corpus: Path, tmp_path: Path) -> None:
    full = run_api(corpus, tmp_path, mem="1G")
    assert run_api(corpus, tmp_path, mem="64M", head_count=10**9) == full


def test_head_uses_no_temp_files(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    run_api(corpus, tmp_path, mem="256K", head_count=10)  # the input is 40x the budget
    assert made == []


def test_head_from_stdin_matches_the_file(shuf_big_cmd: list[str], corpus: Path) -> None:
    args = [*shuf_big_cmd, "-n", "7", "--seed", "3", "--mem", "1M"]
    piped = subprocess.run(args, input=corpus.read_bytes(), capture_output=True, check=True).stdout
    direct = subprocess.run([*args, str(corpus)], capture_output=True, check=True).stdout
    assert piped == direct
    assert len(piped.splitlines()) == 7


def test_each_line_equally_likely_to_come_first(tmp_path: Path) -> None:
    src = tmp_path / "five.txt"
    src.write_bytes(b"a\nb\nc\nd\ne\n")
    picks = Counter()
    for seed in range(1500):
        dst = tmp_path / "one.txt"
        shuf_big.shuffle(src, dst, seed=seed, head_count=1, jobs=1)
        picks[dst.read_bytes()] += 1
    assert len(picks) == 5
    assert chisquare(list(picks.values())).pvalue > 1e-3


def test_peak_memory_is_bounded_on_a_large_input(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    src = tmp_path / "big.txt"
    src.write_bytes(b"".join(b"%011d\n" % i for i in range(8 * MiB // 12 * 8)))  # 64 MiB, 8x --mem
    probe = "import resource,subprocess,sys;rc=subprocess.call(sys.argv[1:]);" + (
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024);sys.exit(rc)"
    )
    args = [*shuf_big_cmd, str(src), "-n", "100", "--mem", "8M", "-o", str(tmp_path / "out.txt")]
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) <= 8 * MiB + 64 * MiB
    assert len((tmp_path / "out.txt").read_bytes().splitlines()) == 100


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "0", "/nonexistent"],
        ["-n", "x", "IN"],
        ["-n", "-1", "IN"],
        ["-n", "3", "-n", "2", "IN"],
        ["-n", "5", "IN"],
    ],
    ids=["zero-skips-input", "not-a-number", "negative", "smallest-wins", "plain"],
)
def test_exit_status_and_line_count_match_gnu_shuf(shuf_big_cmd: list[str], corpus: Path, args: list[str]) -> None:
    argv = [str(corpus) if a == "IN" else a for a in args]
    ours = subprocess.run([*shuf_big_cmd, *argv], capture_output=True)
    gnu = subprocess.run(["shuf", *argv], capture_output=True)
    assert ours.returncode == gnu.returncode
    assert len(ours.stdout.splitlines()) == len(gnu.stdout.splitlines())
    assert set(ours.stdout.splitlines()) <= set(corpus.read_bytes().splitlines())
    if ours.returncode:
        assert ours.stderr.decode().startswith("shuf-big: invalid line count: ")
        assert ours.stderr.count(b"\n") == 1


def test_too_many_lines_for_the_budget_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(shuf_big.ShufBigError, match=r"head_count=150000 keeps more lines than fit in mem="):
        run_api(corpus, tmp_path, mem="256K", head_count=150_000)
