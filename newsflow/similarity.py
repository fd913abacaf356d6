"""Near-duplicate signatures of a text (SimHash, MinHash) and how alike two of them are.

The one place for this arithmetic: the cleaner stamps every article with both signatures, and
story clustering compares them. The signatures use word shingles (3 consecutive lower-cased
``\\w+`` tokens) as features: robust to small edits, sensitive to real content changes. Hashes
are from blake2b, so signatures are stable across processes and Python versions (unlike
``hash()``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")
_SHINGLE = 3
_MERSENNE = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1


def _features(text: str) -> list[str]:
    tokens = _WORD.findall(text.lower())
    if len(tokens) < _SHINGLE:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + _SHINGLE]) for i in range(len(tokens) - _SHINGLE + 1)]


@functools.lru_cache(maxsize=1)
def _hashed_features(text: str) -> np.ndarray:
    """The 64-bit hash of every word shingle of the text, in order (repeats kept).

    Hashing the shingles is most of the cost of a signature, and an article's SimHash and
    MinHash are asked for one after the other: the last text's hashes are kept for the
    second. (The key is the text itself; a str caches its own hash, so a hit costs an
    identity check.)
    """
    digests = b"".join(
        hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest() for f in _features(text)
    )
    hashes = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
    hashes.flags.writeable = False  # shared between callers
    return hashes


def simhash(text: str) -> str:
    """64-bit SimHash of the text's word shingles, as 16 hex digits (all zeros for no words)."""
    hashes = _hashed_features(text)
    if not len(hashes):
        return "0" * 16
    # Bit i of every hash, as a (features x 64) 0/1 matrix; a bit is set in the SimHash when
    # more features vote for 1 than for 0.
    bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    ones = bits.sum(axis=0)
    value = 0
    for i, count in enumerate(ones.tolist()):
        if 2 * count > len(hashes):
            value |= 1 << i
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two SimHashes (0 = same, <= 3 is a near duplicate)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic coefficients (a < 2^32, b < 2^61-1) of the hashes a*x+b mod 2^61-1."""
    a = np.empty(num_perm, dtype=np.uint64)
    b = np.empty(num_perm, dtype=np.uint64)
    for i in range(num_perm):
        digest = hashlib.blake2b(f"newsflow-minhash-{i}".encode(), digest_size=16).digest()
        a[i] = int.from_bytes(digest[:8], "big") % _MAX_HASH + 1
        b[i] = int.from_bytes(digest[8:], "big") % _MERSENNE
    return a, b


_PERM_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def minhash(text: str, num_perm: int = 64) -> list[int]:
    """MinHash signature (``num_perm`` 32-bit values) of the text's word shingles.

    The fraction of equal positions in two signatures estimates the Jaccard similarity of the
    two shingle sets. Text with no words gives all-max values.
    """
    perms = _PERM_CACHE.get(num_perm)
    if perms is None:
        perms = _PERM_CACHE[num_perm] = _permutations(num_perm)
    a, b = perms
    hashes = _hashed_features(text)
    if not len(hashes):
        return [_MAX_HASH] * num_perm
    # With 32-bit features and 32-bit multipliers a*x stays below 2^64, so the universal hash
    # a*x+b mod 2^61-1 is exact in uint64 arithmetic (no Python big ints in the hot loop).
    # Repeated shingles hash alike and cannot change a minimum: the set is only for speed.
    x = np.unique(hashes & np.uint64(_MAX_HASH))
    p = np.uint64(_MERSENNE)
    values = ((a[None, :] * x[:, None]) % p + b[None, :]) % p
    return [int(v) & _MAX_HASH for v in values.min(axis=0).tolist()]


def minhash_similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two MinHash signatures (share of equal positions)."""
    if not a or len(a) != len(b):
        raise ValueError("signatures must be non-empty and of equal length")
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)
