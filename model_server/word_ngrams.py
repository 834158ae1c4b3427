"""Plain word n-grams as scikit-learn makes them, and 64-bit keys for them that need no join.

A review of ~230 words has ~900 word 1-4-grams. Joining each into a string and hashing
it took a third of the scorer's time. A term's *key* chains the Python hashes of its
space-separated parts instead, so the keys of all of a review's n-grams come from its
words' hashes in a few array operations, and a vocabulary term's key is computed from
the term by the same rule: the key of an n-gram equals the key of the string
scikit-learn would join for it, and two different strings share a key only by a 64-bit
collision (the vocabulary's own are refused when it is compiled).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from model_server.preprocessing import Preprocessing

Keys = NDArray[np.uint64]

# A step of the chain: offset, multiply-add (Fibonacci hashing's constant), then one
# round of SplitMix64's finalizer, a bijection, so distinct chains collide no more than
# chance. The offset keeps a chain of empty parts (``hash("") == 0``) off zero.
_OFFSET = np.uint64(0x632BE59BD9B4E019)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)


def _extend(prefixes: Keys, words: Keys) -> Keys:
    """Keys of the n-grams made of each prefix followed by the word beside it."""
    keys = prefixes + _OFFSET
    keys *= _MULTIPLIER
    keys += words
    keys ^= keys >> _SHIFT
    keys *= _MIX
    return keys


def str_hashes(strings: Sequence[str]) -> Keys:
    """The Python hash of each string, as unsigned 64-bit integers."""
    return np.fromiter(map(hash, strings), dtype=np.int64, count=len(strings)).view(np.uint64)


def term_keys(terms: Sequence[str]) -> Keys:
    """The key of each term: the hashes of its parts between single spaces, chained."""
    if not terms:
        return np.empty(0, dtype=np.uint64)
    lengths = np.fromiter(map(str.count, terms, repeat(" ")), np.int64, len(terms)) + 1
    hashes = str_hashes(" ".join(terms).split(" "))
    starts = np.zeros(len(terms), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    keys = hashes[starts]
    for part in range(1, int(lengths.max())):
        longer = np.flatnonzero(lengths > part)
        keys[longer] = _extend(keys[longer], hashes[starts[longer] + part])
    return keys


@dataclass(frozen=True)
class WordNgrams:
    """A vectorizer's word analyzer without stop words: its own preprocessing and
    tokenizing, then every run of ``low`` to ``high`` consecutive words.

    Texts are ``str``: a vectorizer reading ``"content"`` decodes only ``bytes``, so its
    ``decode`` would return each of them unchanged.
    """

    preprocess: Callable[[str], str]
    tokenize: Callable[[str], list[str]]
    low: int
    high: int
    #: When ``tokenize`` is one ``_scoring`` reproduces: the shortest run of word
    #: characters it returns, and the non-word characters it returns on their own.
    native_tokens: tuple[int, str] | None = None

    @property
    def portable(self) -> bool:
        """Whether it is data, the standard library and this package's code, nothing of
        scikit-learn's: the built-in preprocessing and a token pattern's ``findall``."""
        pattern = getattr(self.tokenize, "__self__", None)
        return (
            isinstance(self.preprocess, Preprocessing)
            and isinstance(pattern, re.Pattern)
            and self.tokenize == pattern.findall
        )

    def words(self, text: str) -> list[str]:
        return self.tokenize(self.preprocess(text))

    def __call__(self, text: str) -> list[str]:
        """The n-grams as scikit-learn's analyzer returns them (``map`` joins them faster)."""
        return self._grams(self.words(text))

    def _grams(self, words: list[str]) -> list[str]:
        grams = list(words) if self.low == 1 else []
        for n in range(max(self.low, 2), self.high + 1):
            grams += map(" ".join, zip(*(words[i:] for i in range(n)), strict=False))
        return grams

    def keys(self, text: str) -> Keys:
        """``term_keys`` of the n-grams of ``text``, in no particular order."""
        words = self.words(text)
        if " ".join(words).count(" ") > max(len(words) - 1, 0):
            # A word holds a space (a custom token pattern): its n-grams' strings split
            # into other parts than its words. Key the joined strings, as terms are keyed.
            return term_keys(self._grams(words))
        hashes = str_hashes(words)
        found = [hashes] if self.low == 1 else []
        keys = hashes
        for n in range(2, self.high + 1):
            keys = _extend(keys[:-1], hashes[n - 1 :])
            if n >= self.low:
                found.append(keys)
        return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
