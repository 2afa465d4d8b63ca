"""The key function: ``key(seed, i) = mix64(i * gamma + offset)``, its inverse, and ``-r`` draws.

Every record's place in the output is decided here and nowhere else: the output is the
records sorted by their keys, and a key depends only on the seed and the record's global
index.  Both steps of the key function are bijections of 64-bit integers, so two records
never share a key and the function can be run backwards (:func:`invert_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK64 = (1 << 64) - 1
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_U64_M1 = np.uint64(_M1)
_U64_M2 = np.uint64(_M2)
# Keys are computed in slices this long so temporaries stay in the CPU cache.
KEY_SLICE = 1 << 14


def _mix64_int(x: int) -> int:
    """SplitMix64's finaliser on a Python int (used only to derive per-seed constants)."""
    x &= MASK64
    x ^= x >> 30
    x = (x * _M1) & MASK64
    x ^= x >> 27
    x = (x * _M2) & MASK64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class KeySpec:
    """The per-seed constants of ``key(seed, i) = mix64(i * gamma + offset)``.

    ``gamma`` is odd, so ``i -> i * gamma + offset`` is a bijection of 64-bit integers, and
    so is the mixer: distinct records never share a key.  A seed-dependent gamma (chosen as
    SplittableRandom does, with enough bit transitions) keeps different seeds' streams from
    being shifted copies of each other.
    """

    seed: int
    gamma: int
    offset: int

    @classmethod
    def from_seed(cls, seed: int) -> KeySpec:
        """Derive the constants from a seed in ``0..2**64-1`` (anything else is a ValueError)."""
        if not 0 <= seed <= MASK64:
            raise ValueError(f"seed must be in 0..{MASK64}, got {seed}")
        gamma = _mix64_int(seed ^ 0x9E3779B97F4A7C15) | 1
        if bin(gamma ^ (gamma >> 1)).count("1") < 24:
            gamma ^= 0xAAAAAAAAAAAAAAAA
        offset = _mix64_int(_mix64_int(seed + 0x632BE59BD9B4E019))
        return cls(seed, gamma, offset)


def draw_keys(spec: KeySpec, indices: np.ndarray) -> np.ndarray:
    """Return the uint64 keys of the records with these global indices.

    The key of record ``i`` depends only on the seed and ``i``: this is what makes the
    output identical for any ``--mem``, bucket count or number of workers.
    """
    keys = np.asarray(indices).astype(np.uint64, copy=True)
    gamma = np.uint64(spec.gamma)
    offset = np.uint64(spec.offset)
    tmp = np.empty(min(len(keys), KEY_SLICE), dtype=np.uint64)
    for lo in range(0, len(keys), KEY_SLICE):
        x = keys[lo : lo + KEY_SLICE]
        t = tmp[: len(x)]
        x *= gamma
        x += offset
        np.right_shift(x, 30, out=t)
        x ^= t
        x *= _U64_M1
        np.right_shift(x, 27, out=t)
        x ^= t
        x *= _U64_M2
        np.right_shift(x, 31, out=t)
        x ^= t
    return keys


def _unxorshift(y: np.ndarray, shift: int) -> None:
    """Invert ``x ^= x >> shift`` in place: each round fixes ``shift`` more top bits."""
    x = y.copy()
    for _ in range(64 // shift):
        np.right_shift(x, np.uint64(shift), out=x)
        x ^= y
    y[...] = x


def invert_keys(spec: KeySpec, keys: np.ndarray) -> np.ndarray:
    """Return the indices whose keys are ``keys``: the exact inverse of :func:`draw_keys`.

    Every step of the key function is a bijection of 64-bit integers: the xor-shifts are
    undone by repeating them, the multiplications by odd constants by multiplying with the
    constants' inverses mod 2**64.  So ``invert_keys(spec, draw_keys(spec, i)) == i``.
    """
    x = np.asarray(keys).astype(np.uint64, copy=True)
    _unxorshift(x, 31)
    x *= np.uint64(pow(_M2, -1, 1 << 64))
    _unxorshift(x, 27)
    x *= np.uint64(pow(_M1, -1, 1 << 64))
    _unxorshift(x, 30)
    x -= np.uint64(spec.offset)
    x *= np.uint64(pow(spec.gamma, -1, 1 << 64))
    return x


def repeat_spec(seed: int) -> KeySpec:
    """The key function of ``-r`` draws: derived from the seed, apart from the shuffle's."""
    return KeySpec.from_seed(_mix64_int(seed ^ 0xD1B54A32D192ED03))


def draw_below(spec: KeySpec, counters: np.ndarray, n: int) -> np.ndarray:
    """Uniform integers in ``[0, n)`` from the random words at these counter positions.

    The word at position ``c`` is ``draw_keys(spec, c)``: a counter-based stream, so a
    seed gives the same draws however the counters are cut into blocks.  Words at or above
    the largest multiple of ``n`` below 2**64 are rejected (fewer than half of them), so
    every value is exactly equally likely; the result is shorter than ``counters`` by the
    rejected ones, in counter order.
    """
    if not 0 < n <= MASK64 + 1:
        raise ValueError(f"cannot draw below {n}")
    words = draw_keys(spec, counters)
    if n == MASK64 + 1:
        return words
    limit = MASK64 + 1 - (MASK64 + 1) % n
    if limit <= MASK64:
        words = words[words < np.uint64(limit)]
    return words % np.uint64(n)
