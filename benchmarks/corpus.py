"""Build the benchmark corpora: three profiles of real English text, every line unique.

    python -m benchmarks.corpus --size 2G --out benchmarks/data

Profiles (files in the output directory):

* ``words.txt`` (~14.4 bytes/line): the words of Debian's ``wamerican-insane`` list
  (/usr/share/dict/american-english-insane), each followed by a space and a zero-padded
  block number: ``dragomans 017``.  Block ``b`` is a random permutation of the whole list,
  so a (word, block) pair, and hence every line, occurs once.
* ``sentences.txt`` (~51 bytes/line): sentences from the definitions of the GNU
  Collaborative International Dictionary of English (Debian's ``dict-gcide``,
  /usr/share/dictd/gcide.dict.dz), markup removed, 10-97 characters, duplicates dropped,
  then the same block scheme as ``words``.
* ``docs.jsonl`` (~3.2 KB/line): ``{"id": N, "text": "..."}`` with ``N`` the line number and
  ``text`` a run of consecutive GCIDE definition paragraphs (JSON-escaped, joined by
  ``\\n``) starting at a random paragraph, its length drawn from a log-normal distribution
  (median 2.7 KB, sigma 0.5, clipped to 256 B..64 KB).

Each file is cut at a line boundary at or below the requested size.  Generation is
deterministic (fixed seed; the same source package versions give the same bytes) and is
bulk string work: per GiB about 15-20 s for words (~200 ns per line), 2 s for sentences and
1 s for docs, plus ~2 s to parse GCIDE.  A sidecar ``<file>.meta.json`` records the
requested size, seed, generator version, line count and the source packages' versions; a
file whose sidecar matches the request is not rebuilt.

Missing source packages are installed with ``apt-get`` (needs root and Debian's registry).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: run.py imports this module and stays small
    import numpy as np

PROFILES = ("words", "sentences", "docs")
FILES = {"words": "words.txt", "sentences": "sentences.txt", "docs": "docs.jsonl"}
SEED = 20240601
# Bump when the bytes produced for a given size and seed change.
GENERATOR_VERSION = 1

WORDLIST = Path("/usr/share/dict/american-english-insane")
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
GCIDE_INDEX = Path("/usr/share/dictd/gcide.index")
PACKAGES = {"wamerican-insane": [WORDLIST], "dict-gcide": [GCIDE, GCIDE_INDEX]}

# Sentence lengths kept (characters, before the " NNN" suffix): gives ~51 bytes per line.
SENTENCE_MIN, SENTENCE_MAX = 10, 97
# Document text lengths: log-normal around this median (bytes of JSON-escaped text).
DOC_MEDIAN, DOC_SIGMA, DOC_MIN, DOC_MAX = 2730, 0.5, 256, 64 << 10
# Bytes handed to one write() call.
WRITE_CHUNK = 16 << 20

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"2G"`` -> 2147483648 (powers of 1024; a plain number is bytes)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r} (examples: 50M, 2G, 1.5G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# -- source packages -----------------------------------------------------------------------


def ensure_sources() -> None:
    """Install the Debian packages holding the source texts if any file is missing."""
    missing = [pkg for pkg, paths in PACKAGES.items() if not all(p.exists() for p in paths)]
    if not missing:
        return
    what = ", ".join(missing)
    if shutil.which("apt-get") is None:
        sys.exit(f"corpus.py: missing {what} and no apt-get here: install the Debian packages {what}")
    if os.geteuid() != 0:
        sys.exit(f"corpus.py: missing {what}: run as root, or first: sudo apt-get install -y {' '.join(missing)}")
    print(f"corpus.py: installing {what} with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            sys.exit(
                f"corpus.py: '{' '.join(cmd)}' failed (exit {result.returncode}):\n{tail}\n"
                f"corpus.py: cannot get the source texts: install the Debian packages {what} and run again"
            )
    still = [str(p) for pkg in missing for p in PACKAGES[pkg] if not p.exists()]
    if still:
        sys.exit(f"corpus.py: installed {what} but these files are still missing: {', '.join(still)}")


def package_versions() -> dict[str, str]:
    versions = {}
    for pkg in PACKAGES:
        try:
            out = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            out = "unknown"
        versions[pkg] = out
    return versions


# -- source texts ----------------------------------------------------------------------------

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
# GCIDE's ASCII stand-ins for accented letters and ligatures: [a^], [=e], ['e], [aum], [ae]...
_ACCENT = re.compile(r"\[[=.'\"`~^*,-]?([a-zA-Z]{1,2})(?:\^|um|mac|cr|ced|til)?\]")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")  # etymologies and source tags: [1913 Webster], [Obs.]
_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")
_SPACES = re.compile(r"\s+")
# A sentence ends after a word of 3+ lowercase letters (so "Sir P. Sidney" and "1." stay).
_SENTENCE_END = re.compile(r"(?<=[a-z]{3}[.!?])\s+(?=[A-Z])")
_CLEAN_SENTENCE = re.compile(r"^[A-Z][A-Za-z0-9 ,;:'()-]*[a-z][.!?]$")


def _b64(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64[ch]
    return value


def gcide_paragraphs() -> list[str]:
    """The definition paragraphs of GCIDE, markup removed, in dictionary order."""
    with gzip.open(GCIDE) as f:  # dictzip is gzip with an extra header field
        raw = f.read().decode("latin-1")
    spans = set()
    with GCIDE_INDEX.open(encoding="latin-1") as index:
        for line in index:
            head, offset, length = line.rstrip("\n").split("\t")
            if not head.startswith("00-"):  # 00-database-*: the database's own description
                spans.add((_b64(offset), _b64(length)))
    entries = []
    for offset, length in sorted(spans):
        entry = raw[offset : offset + length]
        if "\\" in entry.split("\n", 1)[0]:  # a real entry starts "Head \Pro*nun"ci*a*tion\ ..."
            entries.append(entry)
    text = _ACCENT.sub(r"\1", "\n\n".join(entries))
    for _ in range(3):  # nested brackets, innermost first
        text = _BRACKETS.sub("", text)
    text = _PRONUNCIATION.sub("", text).replace("{", "").replace("}", "")
    paragraphs = []
    for block in text.split("\n\n"):
        # Lines at column 0 are headword lines; definitions are indented.
        body = " ".join(line for line in block.split("\n") if line[:1] == " ")
        body = _SPACES.sub(" ", body).strip()
        if len(body) > 1:
            paragraphs.append(body)
    return paragraphs


def load_words() -> list[bytes]:
    words = [w for w in WORDLIST.read_bytes().split(b"\n") if w]
    if len(set(words)) != len(words):
        raise SystemExit(f"corpus.py: {WORDLIST} has duplicate lines; lines would not be unique")
    return sorted(words)


def load_sentences(paragraphs: list[str]) -> list[bytes]:
    pool = set()
    for paragraph in paragraphs:
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = re.sub(r"^(?:\d+\. |\([A-Z][a-z.]*\) )+", "", sentence)  # "1. (Zool.) " sense labels
            if SENTENCE_MIN <= len(sentence) <= SENTENCE_MAX and _CLEAN_SENTENCE.match(sentence):
                pool.add(sentence.encode("ascii"))
    return sorted(pool)  # sorted: set order depends on the process's hash seed


# -- generators ------------------------------------------------------------------------------


def block_lines(items: list[bytes], size: int, rng: np.random.Generator) -> Iterator[tuple[bytes, int]]:
    """Yield (chunk, lines) of ``item + b" " + block number + b"\\n"`` lines, ``size`` bytes at most.

    Every block is one random permutation of ``items``, suffixed with the block number
    (zero-padded to a width that fits every block), so no line repeats.
    """
    import numpy as np

    lengths = np.array([len(x) for x in items], dtype=np.int64)
    nblocks = int(size / (float(lengths.mean() + 5) * len(items))) + 2
    width = max(3, len(str(nblocks - 1)))
    spaced = [x + b" " for x in items]
    left = size
    block = 0
    while left > 0:
        perm = rng.permutation(len(items))
        suffix = b"%0*d\n" % (width, block)
        ends = np.cumsum(lengths[perm] + 1 + len(suffix))
        n = int(np.searchsorted(ends, left, side="right"))
        if n == 0:
            return
        chosen = [spaced[i] for i in perm[:n].tolist()]
        yield suffix.join(chosen) + suffix, n
        left -= int(ends[n - 1])
        block += 1


def doc_lines(paragraphs: list[str], size: int, rng: np.random.Generator) -> Iterator[tuple[bytes, int]]:
    """Yield (chunk, lines) of ``{"id": N, "text": "..."}`` lines, ``size`` bytes at most."""
    import numpy as np

    escaped = [json.dumps(p).encode("ascii")[1:-1] for p in paragraphs]
    text = b"\\n".join(escaped) + b"\\n"
    # starts[k] = offset of paragraph k in ``text``; a document is paragraphs [a, b).
    starts = np.zeros(len(escaped) + 1, dtype=np.int64)
    np.cumsum([len(e) + 2 for e in escaped], out=starts[1:])
    total = int(starts[-1])
    left = size
    doc_id = 0
    batch = 4096
    while left > 0:
        want = np.clip(rng.lognormal(np.log(DOC_MEDIAN), DOC_SIGMA, batch), DOC_MIN, min(DOC_MAX, total // 2))
        first = np.searchsorted(starts, rng.integers(0, total - want.astype(np.int64)), side="left")
        first = np.minimum(first, len(escaped) - 1)
        last = np.searchsorted(starts, starts[first] + want, side="left")  # paragraphs [first, last)
        last = np.clip(last, first + 1, len(escaped))
        lines = []
        for a, b in zip(starts[first].tolist(), (starts[last] - 2).tolist(), strict=True):
            line = b'{"id": %d, "text": "%s"}\n' % (doc_id, text[a:b])
            if len(line) > left:
                left = 0
                break
            lines.append(line)
            left -= len(line)
            doc_id += 1
        if lines:
            yield b"".join(lines), len(lines)


# -- building --------------------------------------------------------------------------------


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_meta(path: Path) -> dict | None:
    """The sidecar of ``path`` if it describes the file as it is now, else None."""
    try:
        meta = json.loads(meta_path(path).read_text())
        if meta.get("bytes") == path.stat().st_size:
            return meta
    except (OSError, ValueError):
        pass
    return None


def is_current(path: Path, size: int) -> bool:
    meta = read_meta(path)
    return bool(
        meta
        and meta.get("requested_bytes") == size
        and meta.get("seed") == SEED
        and meta.get("generator_version") == GENERATOR_VERSION
    )


def build(profile: str, out_dir: Path, size: int, *, force: bool = False, quiet: bool = False) -> dict:
    """Build one profile's corpus of at most ``size`` bytes unless it is current; return its metadata."""
    path = out_dir / FILES[profile]
    if not force and is_current(path, size):
        meta = read_meta(path)
        assert meta is not None
        if not quiet:
            print(f"{path}: up to date ({format_size(meta['bytes'])}, {meta['lines']:,} lines)", file=sys.stderr)
        return meta
    ensure_sources()
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    import numpy as np

    rng = np.random.default_rng([SEED, PROFILES.index(profile)])
    if profile == "words":
        chunks = block_lines(load_words(), size, rng)
    elif profile == "sentences":
        chunks = block_lines(load_sentences(gcide_paragraphs()), size, rng)
    else:
        chunks = doc_lines(gcide_paragraphs(), size, rng)
    meta_path(path).unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".part")
    nbytes = nlines = 0
    with tmp.open("wb") as f:
        for chunk, lines in chunks:
            f.write(chunk)
            nbytes += len(chunk)
            nlines += lines
    tmp.replace(path)
    seconds = time.perf_counter() - start
    meta = {
        "profile": profile,
        "file": path.name,
        "requested_bytes": size,
        "bytes": nbytes,
        "lines": nlines,
        "bytes_per_line": round(nbytes / max(nlines, 1), 2),
        "seed": SEED,
        "generator_version": GENERATOR_VERSION,
        "sources": package_versions(),
        "build_seconds": round(seconds, 2),
    }
    meta_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    if not quiet:
        rate = nbytes / seconds / 2**20 if seconds else 0
        print(
            f"{path}: built {format_size(nbytes)}, {nlines:,} lines ({meta['bytes_per_line']} B/line) "
            f"in {seconds:.1f} s ({rate:.0f} MiB/s)",
            file=sys.stderr,
        )
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=parse_size("2G"), help="bytes per corpus [2G]")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data", help="output directory")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated subset of %(default)s")
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date file exists")
    args = parser.parse_args(argv)
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = sorted(set(profiles) - set(PROFILES))
    if unknown:
        parser.error(f"unknown profile(s): {', '.join(unknown)} (choose from {', '.join(PROFILES)})")
    for profile in profiles:
        build(profile, args.out, args.size, force=args.force)


if __name__ == "__main__":
    main()
