"""The source texts of the corpora: Debian's word list and dictionary, or a synthetic stand-in.

* ``debian`` (the default, and what the published figures used): the words of
  ``wamerican-insane`` and the definitions of GCIDE (``dict-gcide``), installed with
  ``apt-get`` when missing, which needs root and Debian's registry.
* ``synthetic``: pronounceable made-up words and sentences from a fixed seed, the same on
  every machine with the same Python: no packages, no root, no network, for smoke runs and
  CI.  Its lines have the shapes of the real ones (unique words, sentences of 10-97
  characters, paragraphs) but not their statistics, so figures measured on it are not
  comparable with the published ones.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

TEXTS = ("debian", "synthetic")
TEXT_HELP = (
    "source text: debian (wamerican-insane and dict-gcide, installed with apt-get if missing) "
    "or synthetic (generated words and sentences: no packages, for smoke runs) [debian]"
)
SYNTHETIC_VERSION = 1
SYNTHETIC_SEED = 20261207

WORDLIST = Path("/usr/share/dict/american-english-insane")
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
GCIDE_INDEX = Path("/usr/share/dictd/gcide.index")
PACKAGES = {"wamerican-insane": [WORDLIST], "dict-gcide": [GCIDE, GCIDE_INDEX]}

# Sentence lengths kept (characters, before the " NNN" suffix): gives ~51 bytes per line.
SENTENCE_MIN, SENTENCE_MAX = 10, 97
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
            head, at, size = line.rstrip("\n").split("\t")
            if not head.startswith("00-"):  # 00-database-*: the database's own description
                spans.add((_b64(at), _b64(size)))
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


# -- the synthetic stand-in ---------------------------------------------------------------------

# A made-up word is 1-4 syllables of onset + vowel + coda ("-": no coda).
_ONSETS = "b c d f g h j k l m n p r s t v w z bl br ch cl cr dr fl fr gl gr pl pr sc sh sl sp st str th tr"
_VOWELS = "a e i o u ai ea ee io oa ou"
_CODAS = "- - - n r s t l m nd st ck ng"


def synthetic_words(count: int = 60_000) -> list[bytes]:
    """``count`` distinct made-up lowercase words of 3-16 letters, sorted (the word list's stand-in)."""
    rng = random.Random(SYNTHETIC_SEED)
    onsets, vowels = _ONSETS.split(), _VOWELS.split()
    codas = [c.strip("-") for c in _CODAS.split()]
    words: set[str] = set()
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables))
        if 3 <= len(word) <= 16:
            words.add(word)
    return sorted(w.encode("ascii") for w in words)


def synthetic_paragraphs(count: int = 12_000) -> list[str]:
    """``count`` paragraphs of 1-8 made-up sentences (GCIDE's definitions' stand-in).

    Words are drawn with Zipf-like weights, sentences have 2-14 of them, start with a capital
    and end with a period after a word of 3+ letters, as load_sentences wants.
    """
    rng = random.Random(SYNTHETIC_SEED + 1)
    words = [w.decode() for w in synthetic_words()]
    rng.shuffle(words)
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    pool = rng.choices(words, weights, k=count * 40)
    at = 0
    paragraphs = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(1, 8)):
            n = rng.randint(2, 14)
            chosen = pool[at : at + n]
            at = (at + n) % (len(pool) - 16)
            sentence = " ".join(chosen)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        paragraphs.append(" ".join(sentences))
    return paragraphs
