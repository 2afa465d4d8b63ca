"""GNU shuf compatibility: -e, -i, -r, --random-source and GNU's error cases.

Wherever GNU shuf's result is deterministic (errors, exit codes, line counts, the set or
multiset of lines) the installed ``shuf-big`` is run next to the real ``shuf`` (coreutils,
C locale for ASCII quotes) and compared.  Randomness is checked with chi-square tests.
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import chisquare

import shuf_big
import shuf_big.cli.command as cli_module
from shuf_big import core
from shuf_big.cli import cli
from shuf_big.engines import gnu
from shuf_big.options.resolve import seed_from_random_source

ENV = {**os.environ, "LC_ALL": "C"}
TOP = (1 << 64) - 1


def run(cmd: list[str], *args: str | bytes, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, env=ENV, timeout=120)


@pytest.fixture
def ours(shuf_big_cmd: list[str]) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    return functools.partial(run, shuf_big_cmd)


gnu_shuf = functools.partial(run, ["shuf"])


def lines(blob: bytes, sep: bytes = b"\n") -> list[bytes]:
    assert blob == b"" or blob.endswith(sep)
    return blob.split(sep)[:-1]


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gnu") / "five.txt"
    path.write_bytes(b"a\nb\nc\nd\ne\n")
    return path


# -- errors: the same message (modulo the program name) and status 1 as GNU shuf -----------


ERROR_CASES = {
    "range-reversed": ["-i", "5-3"],
    "range-no-dash": ["-i", "5"],
    "range-not-a-number": ["-i", "x"],
    "range-no-high": ["-i", "1-"],
    "range-no-low": ["-i", "-5"],
    "range-trailing-junk": ["-i", "1-3x"],
    "range-two-dashes": ["-i", "1-3-4"],
    "range-hex": ["-i", "0x1-3"],
    "range-too-large": ["-i", "18446744073709551616-1"],
    "two-ranges": ["-i", "1-3", "-i", "1-3"],
    "range-and-echo": ["-i", "1-3", "-e", "a"],
    "echo-and-range": ["-e", "a", "-i", "1-3"],
    "range-and-file": ["-i", "1-3", "FIVE"],
    "range-and-dash": ["-i", "1-3", "--", "-"],
    # Several FILE operands are one corpus in shuf-big (tests/test_corpus.py), where GNU
    # says "extra operand": a deliberate extension, so that case is not compared here.
    "two-outputs": ["-o", "OUT1", "-o", "OUT2", "-e", "a"],
    "two-random-sources": ["--random-source", "FIVE", "--random-source", "/dev/zero", "-e", "a"],
    "random-source-missing": ["--random-source", "/nonexistent/rs", "-e", "a", "b"],
    "random-source-empty": ["--random-source", "/dev/null", "-e", "a", "b"],
    "random-source-directory": ["--random-source", "/tmp", "-e", "a", "b"],
    "repeat-no-lines-stdin": ["-r"],
    "repeat-no-operands": ["-r", "-e"],
    "repeat-empty-file": ["-r", "/dev/null"],
    "repeat-empty-range": ["-r", "-i", "4-3"],
    "count-not-a-number": ["-n", "x", "-e", "a"],
    "count-negative": ["-n", "-1", "-e", "a"],
    "count-trailing-blank": ["-n", "5 ", "-e", "a"],
    "count-empty": ["-n", "", "-e", "a"],
}


@pytest.mark.parametrize("args", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_errors_match_gnu_shuf(ours, five: Path, tmp_path: Path, args: list[str]) -> None:
    names = {"FIVE": str(five), "OUT1": str(tmp_path / "o1"), "OUT2": str(tmp_path / "o2")}
    argv = [names.get(a, a) for a in args]
    mine, theirs = ours(*argv), gnu_shuf(*argv)
    assert theirs.returncode == 1, theirs.stderr  # the case really is an error for GNU shuf
    assert mine.returncode == 1
    assert mine.stdout == b""
    assert mine.stderr.decode().replace("shuf-big", "shuf") == theirs.stderr.decode()
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("args", [["-n"], ["-i"], ["-o"], ["--random-source"], ["--bogus"]])
def test_option_errors_exit_1_with_a_hint_like_gnu_shuf(ours, args: list[str]) -> None:
    mine, theirs = ours(*args), gnu_shuf(*args)
    assert mine.returncode == theirs.returncode == 1
    assert mine.stderr.decode().splitlines()[-1] == "Try 'shuf-big --help' for more information."


def test_random_source_with_seed_is_a_usage_error(ours, five: Path) -> None:
    proc = ours("--random-source", str(five), "--seed", "1", "-e", "a")
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "shuf-big: cannot combine --random-source and --seed options",
        "Try 'shuf-big --help' for more information.",
    ]


@pytest.mark.parametrize("args", [["-i", "5-3"], ["-r", "-e"], ["--random-source", "/dev/null", "-e", "a", "b"]])
def test_failed_run_leaves_existing_output_untouched(ours, tmp_path: Path, args: list[str]) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"precious\n")
    assert ours(*args, "-o", str(target)).returncode == 1
    assert target.read_bytes() == b"precious\n"
    assert os.listdir(tmp_path) == ["out.txt"]


# -- results: the same lines (as a set or multiset) as GNU shuf -----------------------------


SAME_LINES = {
    "echo": ["-e", "a", "b", "c", "d", "a"],
    "echo-nothing": ["-e"],
    "echo-dash-operands": ["-e", "--", "-n", "1"],
    "range": ["-i", "1-100"],
    "range-one": ["-i", "7-7"],
    "range-empty": ["-i", "4-3"],
    "range-leading-zeros-and-plus": ["-i", "+08-012"],
    "range-top": ["-i", "18446744073709551605-18446744073709551615"],
    "range-z": ["-z", "-i", "1-20"],
    "echo-z": ["-z", "-e", "a b", "c"],
    "head-above-count": ["-n", "99999999999999999999999", "-e", "a", "b"],
    "range-head-above-count": ["-n", "50", "-i", "1-10"],
    "zero-count-repeat": ["-n", "0", "-r"],
    "zero-count-empty-range-repeat": ["-n", "0", "-r", "-i", "4-3"],
    "zero-count-missing-random-source": ["-n", "0", "--random-source", "/nonexistent", "-e", "a"],
    "same-output-twice": ["-o", "OUT", "-o", "OUT", "-e", "x", "y"],
}


@pytest.mark.parametrize("args", SAME_LINES.values(), ids=SAME_LINES.keys())
def test_same_lines_as_gnu_shuf(ours, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else a for a in args]
    mine = ours(*argv)
    mine_out = out.read_bytes() if "OUT" in args else mine.stdout
    theirs = gnu_shuf(*argv)
    theirs_out = out.read_bytes() if "OUT" in args else theirs.stdout
    assert mine.returncode == theirs.returncode == 0, mine.stderr
    assert mine.stderr == b""
    sep = b"\0" if "-z" in args else b"\n"
    assert sorted(lines(mine_out, sep)) == sorted(lines(theirs_out, sep))


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "10", "-i", "1-100"],
        ["-n", "3", "-e", "a", "b", "c", "d"],
        ["-n", "4", "FIVE"],
        ["-n", "2", "-z", "-i", "5-9"],
    ],
)
def test_head_count_gives_as_many_distinct_input_lines_as_gnu(ours, five: Path, args: list[str]) -> None:
    argv = [str(five) if a == "FIVE" else a for a in args]
    sep = b"\0" if "-z" in args else b"\n"
    mine, theirs = lines(ours(*argv).stdout, sep), lines(gnu_shuf(*argv).stdout, sep)
    assert len(mine) == len(theirs) == int(args[1])
    assert len(set(mine)) == len(mine)
    universe = set(lines(gnu_shuf(*[a for a in argv if a not in args[:2]]).stdout, sep))
    assert set(mine) <= universe


@pytest.mark.parametrize("source", [["-e", "a", "b", "c"], ["FIVE"], ["-i", "10-12"], ["-z", "-e", "x", "y"]])
def test_repeat_with_count_only_uses_input_lines_like_gnu(ours, five: Path, source: list[str]) -> None:
    argv = ["-r", "-n", "1000", *(str(five) if a == "FIVE" else a for a in source)]
    sep = b"\0" if "-z" in source else b"\n"
    mine, theirs = lines(ours(*argv).stdout, sep), lines(gnu_shuf(*argv).stdout, sep)
    assert len(mine) == len(theirs) == 1000
    assert set(mine) == set(theirs)  # 1000 draws from at most 5 values see every value


def test_repeat_reads_stdin(ours) -> None:
    proc = ours("-r", "-n", "50", "--seed", "1", stdin=b"x\ny")
    assert proc.returncode == 0
    assert set(lines(proc.stdout)) == {b"x", b"y"}
    assert len(lines(proc.stdout)) == 50


def test_echo_operands_are_bytes_not_text(ours) -> None:
    proc = ours("-e", b"caf\xe9", b"\xff\xfe", "--seed", "2")
    assert proc.returncode == 0
    assert sorted(lines(proc.stdout)) == [b"caf\xe9", b"\xff\xfe"]


# -- the same seed gives the same bytes, whatever --mem and -j ------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["-i", "1-60000"],  # 400 KB of text: temp files at 256K and 16K
        ["-i", "1-300000", "-n", "150"],  # 150 lines fit a 16K budget
        ["-e", *(f"word{i}" for i in range(2000))],
        ["-r", "-n", "200000", "-i", "1-1000"],
        ["-r", "-n", "200000", "-e", "a", "bb", "c" * 300],
        ["-r", "-n", "1000", "-i", "0-18446744073709551615"],
        ["-n", "1000", "-i", "0-18446744073709551615"],
    ],
    ids=["range", "range-head", "echo", "repeat-range", "repeat-echo", "repeat-huge-range", "huge-range-head"],
)
def test_same_seed_same_bytes_for_any_mem_and_jobs(ours, args: list[str]) -> None:
    outputs = {
        ours(*args, "--seed", "99", "--mem", mem, "-j", jobs).stdout
        for mem, jobs in [("1G", "1"), ("256K", "1"), ("256K", "2"), ("16K", "2")]
    }
    assert len(outputs) == 1
    other = ours(*args, "--seed", "100", "--mem", "1G").stdout
    assert other != outputs.pop()


def test_range_full_shuffle_through_temp_files_is_a_permutation(ours) -> None:
    proc = ours("-i", "5-1000004", "--mem", "1M", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    got = np.array(proc.stdout.split(), dtype=np.int64)
    assert len(got) == 1_000_000
    assert not np.array_equal(got[:100], np.arange(5, 105))
    assert np.array_equal(np.sort(got), np.arange(5, 1_000_005))


@pytest.mark.parametrize("args", [["-i", "3-2000"], ["-e", *(str(i) for i in range(500))]])
def test_head_count_is_the_start_of_the_full_shuffle(ours, args: list[str]) -> None:
    full = lines(ours(*args, "--seed", "8").stdout)
    for count in ("1", "7", "300"):
        assert lines(ours(*args, "--seed", "8", "-n", count).stdout) == full[: int(count)]


def test_echo_is_shuffled_like_the_same_lines_in_a_file(ours, tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(300)]
    path = tmp_path / "words.txt"
    path.write_text("".join(w + "\n" for w in words))
    assert ours("-e", *words, "--seed", "5").stdout == ours(str(path), "--seed", "5").stdout


def test_range_is_shuffled_like_the_same_numbers_in_a_file(ours, tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("".join(f"{i}\n" for i in range(10, 5000)))
    assert ours("-i", "10-4999", "--seed", "6").stdout == ours(str(path), "--seed", "6").stdout


# -- -i with -n: the inverse-key walk and the enumeration agree -----------------------------


@pytest.mark.parametrize("seed", [0, 1, 12345, TOP])
def test_invert_keys_is_the_exact_inverse_of_draw_keys(seed: int) -> None:
    spec = core.KeySpec.from_seed(seed)
    rng = np.random.default_rng(seed % 1000)
    values = np.concatenate(
        [rng.integers(0, TOP, 200_000, dtype=np.uint64, endpoint=True), np.array([0, 1, TOP], dtype=np.uint64)]
    )
    assert np.array_equal(core.invert_keys(spec, core.draw_keys(spec, values)), values)
    assert np.array_equal(core.draw_keys(spec, core.invert_keys(spec, values)), values)


def _toy_key(i: np.ndarray) -> np.ndarray:
    """A bijection of 64-bit integers that only mixes the low 20 bits, so that the keys of
    indices below 2**20 are all below 2**20: there both selection methods are cheap."""
    low = i & np.uint64(0xFFFFF)
    low = (low * np.uint64(0x9E3B5)) & np.uint64(0xFFFFF)
    low ^= low >> np.uint64(7)
    return (i & ~np.uint64(0xFFFFF)) | low


def _toy_invert(k: np.ndarray) -> np.ndarray:
    low = k & np.uint64(0xFFFFF)
    low ^= low >> np.uint64(7)
    low ^= low >> np.uint64(14)
    low = (low * np.uint64(pow(0x9E3B5, -1, 1 << 20))) & np.uint64(0xFFFFF)
    return (k & ~np.uint64(0xFFFFF)) | low


@pytest.mark.parametrize(("n", "k"), [(1, 1), (1000, 1), (1000, 999), (300_000, 17), (1 << 20, 5000), (777_777, 4096)])
@pytest.mark.parametrize("chunk", [1024, 1 << 16])
def test_key_walk_and_enumeration_select_the_same_indices(n: int, k: int, chunk: int) -> None:
    """With the real key the two methods are never both feasible (one costs n, the other
    k * 2**64 / n), so the selection logic is compared on a small-domain bijection; the
    real key's inverse is checked exactly above."""
    probe = np.arange(1 << 20, dtype=np.uint64)
    assert np.array_equal(_toy_invert(_toy_key(probe)), probe)
    walked = np.concatenate(list(core.walk_smallest_keys(_toy_invert, n, k, chunk)))
    enumerated = core.enumerate_smallest_keys(_toy_key, n, k, chunk)
    expected = np.argsort(_toy_key(np.arange(n, dtype=np.uint64)), kind="stable")[:k]
    assert np.array_equal(walked, expected)
    assert np.array_equal(enumerated, expected)


def test_forced_enumeration_is_the_start_of_the_full_shuffle(tmp_path: Path) -> None:
    full = tmp_path / "full.txt"
    shuf_big.shuffle(dst=full, input_range=(1000, 60_999), seed=3, mem="4M")
    first = [int(x) for x in full.read_bytes().split()[:500]]
    spec = core.KeySpec.from_seed(3)
    for method in ("enumerate", None):
        got = np.concatenate(list(gnu.range_head_indices(spec, 60_000, 500, 4096, method=method)))
        assert (got + 1000).tolist() == first


@pytest.mark.parametrize("n", [1 << 64, (1 << 64) - 12345, 3 << 62, 1 << 62, 1 << 50])
def test_forced_key_walk_finds_exactly_the_smallest_keys_below_n(n: int) -> None:
    spec = core.KeySpec.from_seed(77)
    k = 1000
    got = np.concatenate(list(gnu.range_head_indices(spec, n, k, 1 << 16, method="walk")))
    keys = core.draw_keys(spec, got)
    assert len(got) == k and (got.astype(object) < n).all()
    assert (np.diff(keys.astype(np.float64)) > 0).all()  # in shuffle order
    # Brute force: every key up to the k-th smallest, mapped back to its index.
    every = core.invert_keys(spec, np.arange(int(keys[-1]) + 1, dtype=np.uint64))
    assert np.array_equal(every[every.astype(object) < n] if n <= TOP else every, got)


def test_whole_64_bit_range_with_count_is_instant(ours) -> None:
    start = time.monotonic()
    proc = ours("-i", "0-18446744073709551615", "-n", "3", "--seed", "1")
    assert time.monotonic() - start < 10
    assert proc.returncode == 0
    spec = core.KeySpec.from_seed(1)
    assert lines(proc.stdout) == [b"%d" % v for v in core.invert_keys(spec, np.arange(3, dtype=np.uint64)).tolist()]
    assert gnu.range_head_method(1 << 64, 3) == "walk"


def test_range_head_too_large_for_the_budget_is_a_clear_error(ours) -> None:
    proc = ours("-i", "1-10000000", "-n", "5000000", "--mem", "1M")
    assert proc.returncode == 1
    assert proc.stderr.startswith(b"shuf-big: -n 5000000 keeps more lines than fit in --mem 1.0 MiB")


def test_count_via_inverse_keys_is_uniform(tmp_path: Path) -> None:
    """-n 1 on a range of 3 * 2**62 numbers (key walk): each third equally likely."""
    n = 3 << 62
    assert gnu.range_head_method(n, 1) == "walk"
    out = tmp_path / "one.txt"
    thirds: Counter[int] = Counter()
    fives: Counter[int] = Counter()
    for seed in range(1500):
        shuf_big.shuffle(dst=out, input_range=(0, n - 1), head_count=1, seed=seed, jobs=1)
        value = int(out.read_bytes())
        thirds[value // (1 << 62)] += 1
        fives[value % 5] += 1
    assert sorted(thirds) == [0, 1, 2] and sorted(fives) == [0, 1, 2, 3, 4]
    assert chisquare(list(thirds.values())).pvalue > 1e-3
    assert chisquare(list(fives.values())).pvalue > 1e-3


# -- -r: uniform, unbiased, endless ---------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_repeat_draws_are_uniform(tmp_path: Path, seed: int) -> None:
    out = tmp_path / "r.txt"
    shuf_big.shuffle(dst=out, echo=["a", "b", "c", "d", "e"], repeat=True, head_count=20_000, seed=seed)
    counts = Counter(out.read_bytes().split())
    assert sorted(counts) == [b"a", b"b", b"c", b"d", b"e"]
    assert chisquare(list(counts.values())).pvalue > 1e-3


def test_repeat_first_draw_is_uniform_over_seeds(tmp_path: Path, five: Path) -> None:
    out = tmp_path / "r.txt"
    counts: Counter[bytes] = Counter()
    for seed in range(1500):
        shuf_big.shuffle(five, out, repeat=True, head_count=1, seed=seed, jobs=1)
        counts[out.read_bytes()] += 1
    assert len(counts) == 5
    assert chisquare(list(counts.values())).pvalue > 1e-3


def test_repeat_range_draws_are_unbiased(tmp_path: Path) -> None:
    """3 * 2**62 values: plain modulo would make the first third twice as likely."""
    out = tmp_path / "r.txt"
    n = 3 << 62
    shuf_big.shuffle(dst=out, input_range=(7, 7 + n - 1), repeat=True, head_count=30_000, seed=5)
    values = [int(x) - 7 for x in out.read_bytes().split()]
    assert len(values) == 30_000 and min(values) >= 0 and max(values) < n
    assert chisquare(list(Counter(v // (1 << 62) for v in values).values())).pvalue > 1e-3
    small = tmp_path / "s.txt"
    shuf_big.shuffle(dst=small, input_range=(1, 5), repeat=True, head_count=20_000, seed=5)
    counts = Counter(small.read_bytes().split())
    assert sorted(counts) == [b"1", b"2", b"3", b"4", b"5"]
    assert chisquare(list(counts.values())).pvalue > 1e-3


def test_draw_below_rejects_the_biased_tail() -> None:
    spec = core.repeat_spec(0)
    counters = np.arange(100_000, dtype=np.uint64)
    picks = core.draw_below(spec, counters, 3 << 62)
    assert 70_000 < len(picks) < 80_000  # a quarter of the words are rejected
    assert len(core.draw_below(spec, counters, 1 << 64)) == len(core.draw_below(spec, counters, 8)) == 100_000


@pytest.mark.parametrize("source", [["-e", "a", "b"], ["-i", "1-10"], ["FIVE"]])
def test_endless_repeat_into_head_dies_quietly_by_sigpipe(
    shuf_big_cmd: list[str], five: Path, source: list[str]
) -> None:
    argv = [*shuf_big_cmd, "-r", *(str(five) if a == "FIVE" else a for a in source)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(4096)
    proc.stdout.close()
    assert proc.wait(timeout=30) == -signal.SIGPIPE
    assert proc.stderr.read() == b""
    assert len(head) == 4096


def test_endless_repeat_in_a_shell_pipeline(shuf_big_cmd: list[str]) -> None:
    script = f'{" ".join(shuf_big_cmd)} -r -e a b | head -5; echo "${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30)
    out = proc.stdout.split()
    assert set(out[:5]) <= {b"a", b"b"} and len(out) == 6
    assert out[5] == b"141"
    assert proc.stderr == b""


def test_repeat_writes_in_blocks_fast(ours) -> None:
    start = time.monotonic()
    proc = ours("-r", "-n", "2000000", "-e", "a", "b", "c", "--seed", "1")
    assert time.monotonic() - start < 20  # a Python loop per line would take far longer
    assert proc.stdout.count(b"\n") == 2_000_000


def test_repeat_input_larger_than_the_budget_is_a_one_line_error(ours, tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"0123456789abcde\n" * 65536)  # 1 MiB
    for extra in ([str(path)], []):
        proc = ours("-r", "-n", "5", "--mem", "256K", *extra, stdin=path.read_bytes())
        assert proc.returncode == 1
        assert proc.stderr.startswith(b"shuf-big: -r keeps every input line in memory")
        assert proc.stderr.count(b"\n") == 1
    assert ours("-r", "-n", "5", "--mem", "4M", str(path)).stdout.count(b"\n") == 5


# -- --random-source ------------------------------------------------------------------------


def test_random_source_seed_rule(tmp_path: Path) -> None:
    path = tmp_path / "rs"
    path.write_bytes(bytes(range(100)))
    expected = int.from_bytes(hashlib.blake2b(bytes(range(32)), digest_size=8).digest(), "big")
    assert seed_from_random_source(path) == expected
    path.write_bytes(b"short")
    assert seed_from_random_source(path) == int.from_bytes(hashlib.blake2b(b"short", digest_size=8).digest(), "big")


def test_random_source_decides_the_output(ours, tmp_path: Path) -> None:
    a, a_longer, b = tmp_path / "a", tmp_path / "a2", tmp_path / "b"
    a.write_bytes(b"x" * 32 + b"tail one")
    a_longer.write_bytes(b"x" * 32 + b"a different tail")
    b.write_bytes(b"y" * 32)
    args = ["-i", "1-1000"]
    out_a = ours(*args, "--random-source", str(a)).stdout
    assert ours(*args, "--random-source", str(a), "--mem", "64K", "-j", "2").stdout == out_a
    assert ours(*args, "--random-source", str(a_longer)).stdout == out_a  # only 32 bytes count
    assert ours(*args, "--random-source", str(b)).stdout != out_a
    seed = str(seed_from_random_source(a))
    assert ours(*args, "--seed", seed).stdout == out_a
    assert sorted(lines(out_a)) == sorted(b"%d" % i for i in range(1, 1001))


def test_random_source_may_be_endless(ours, shuf_big_cmd: list[str]) -> None:
    proc = ours("-e", "a", "b", "c", "--random-source", "/dev/urandom")
    assert proc.returncode == 0
    assert sorted(lines(proc.stdout)) == [b"a", b"b", b"c"]
    script = "yes | " + " ".join(shuf_big_cmd) + " -i 1-5 --random-source /dev/stdin"
    piped = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30)
    assert piped.returncode == 0 and sorted(piped.stdout.split()) == [b"1", b"2", b"3", b"4", b"5"]


# -- option parsing (in-process) ------------------------------------------------------------


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[object, ...], dict[str, object]]]:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(cli_module, "shuffle", lambda *a, **k: calls.append((a, k)))
    return calls


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-e", "a", "-n", "2", "b"], {"echo": ("a", "b"), "input_range": None, "head_count": 2}),
        (["-i", " 3-07", "-r"], {"echo": None, "input_range": (3, 7), "repeat": True}),
        (["--random-source", "f", "--random-source", "f", "-o", "o", "-o", "o"], {"random_source": "f"}),
        (["--input-range=0-18446744073709551615", "--repeat"], {"input_range": (0, TOP), "repeat": True}),
        (["--echo", "--zero-terminated", "--", "-x"], {"echo": ("-x",), "zero_terminated": True}),
    ],
)
def test_cli_passes_gnu_options_to_the_api(captured, args: list[str], expected: dict[str, object]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (_, kwargs) = captured[0]
    assert {key: kwargs[key] for key in expected} == expected


def test_api_rejects_what_the_cli_rejects(tmp_path: Path) -> None:
    with pytest.raises(shuf_big.ShufBigError, match="cannot combine echo= and input_range= options"):
        shuf_big.shuffle(dst=tmp_path / "o", echo=["a"], input_range=(1, 2))
    with pytest.raises(shuf_big.ShufBigError, match="invalid input range: '5-3'"):
        shuf_big.shuffle(dst=tmp_path / "o", input_range="5-3")
    with pytest.raises(shuf_big.ShufBigError, match="cannot combine random_source= and seed="):
        shuf_big.shuffle(dst=tmp_path / "o", echo=["a"], seed=1, random_source="/dev/zero")
    assert not (tmp_path / "o").exists()
