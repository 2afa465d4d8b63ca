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
``--text synthetic`` builds the same three shapes from generated words and sentences instead
(texts.py), with no packages: for smoke runs, not for figures to compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import texts
from benchmarks.texts import TEXT_HELP, TEXTS
from benchmarks.units import MiB, format_size, parse_size, split_list

if TYPE_CHECKING:  # numpy is imported where it is used: run.py imports this module and stays small
    import numpy as np

PROFILES = ("words", "sentences", "docs")
FILES = {"words": "words.txt", "sentences": "sentences.txt", "docs": "docs.jsonl"}
SEED = 20240601
# Bump when the bytes produced for a given size and seed change.
GENERATOR_VERSION = 1

# Document text lengths: log-normal around this median (bytes of JSON-escaped text).
DOC_MEDIAN, DOC_SIGMA, DOC_MIN, DOC_MAX = 2730, 0.5, 256, 64 << 10

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


def read_meta(path: Path) -> dict[str, Any] | None:
    """The sidecar of ``path`` if it describes the file as it is now, else None."""
    try:
        meta = json.loads(meta_path(path).read_text())
        if meta.get("bytes") == path.stat().st_size:
            return meta
    except (OSError, ValueError):
        pass
    return None


def is_current(path: Path, size: int, text: str) -> bool:
    """Whether ``path`` is what a build for ``size`` bytes of ``text`` would write now."""
    meta = read_meta(path)
    return bool(
        meta
        and meta.get("requested_bytes") == size
        and meta.get("seed") == SEED
        and meta.get("generator_version") == GENERATOR_VERSION
        and meta.get("text", "debian") == text
    )


def chunks_of(profile: str, size: int, text: str) -> Iterator[tuple[bytes, int]]:
    """The profile's generator over the chosen source text."""
    import numpy as np

    rng = np.random.default_rng([SEED, PROFILES.index(profile)])
    words: Callable[[], list[bytes]]
    paragraphs: Callable[[], list[str]]
    if text == "synthetic":
        words, paragraphs = texts.synthetic_words, texts.synthetic_paragraphs
    else:
        texts.ensure_sources()
        words, paragraphs = texts.load_words, texts.gcide_paragraphs
    if profile == "words":
        return block_lines(words(), size, rng)
    if profile == "sentences":
        return block_lines(texts.load_sentences(paragraphs()), size, rng)
    return doc_lines(paragraphs(), size, rng)


def build(
    profile: str, out_dir: Path, size: int, *, text: str = "debian", force: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Build one profile's corpus of at most ``size`` bytes unless it is current; return its metadata."""
    path = out_dir / FILES[profile]
    meta = read_meta(path)
    if not force and meta is not None and is_current(path, size, text):
        if not quiet:
            print(f"{path}: up to date ({format_size(meta['bytes'])}, {meta['lines']:,} lines)", file=sys.stderr)
        return meta
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    chunks = chunks_of(profile, size, text)
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
    sources = {"synthetic": f"v{texts.SYNTHETIC_VERSION}"} if text == "synthetic" else texts.package_versions()
    meta = {
        "profile": profile,
        "file": path.name,
        "requested_bytes": size,
        "bytes": nbytes,
        "lines": nlines,
        "bytes_per_line": round(nbytes / max(nlines, 1), 2),
        "seed": SEED,
        "generator_version": GENERATOR_VERSION,
        "text": text,
        "sources": sources,
        "build_seconds": round(seconds, 2),
    }
    meta_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    if not quiet:
        rate = nbytes / seconds / MiB if seconds else 0
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
    parser.add_argument("--text", choices=TEXTS, default="debian", help=TEXT_HELP)
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date file exists")
    args = parser.parse_args(argv)
    profiles = split_list(args.profiles)
    unknown = sorted(set(profiles) - set(PROFILES))
    if unknown:
        parser.error(f"unknown profile(s): {', '.join(unknown)} (choose from {', '.join(PROFILES)})")
    for profile in profiles:
        build(profile, args.out, args.size, text=args.text, force=args.force)


if __name__ == "__main__":
    main()
