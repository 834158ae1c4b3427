"""Word n-gram counts exactly as ``CountVectorizer`` makes them, computed on token ids.

``CountVectorizer`` joins every window of 1..n tokens into a string and looks it up in
a dict, a Python loop over ~1,000 strings per review. Here each review is only
tokenised in Python (the vectorizer's own preprocessor and tokenizer, on every core);
the n-grams are then numbered level by level with numpy: an n-gram is the pair (its
first n-1 tokens, its last token), so it exists among the n-grams of interest only
when its (n-1)-gram prefix does. A learnt vocabulary keeps the n-grams in ``min_df``
reviews (a prefix is in at least as many) and of at most ``max_chars`` characters (a
prefix is shorter). Tokens never hold a space, so the token sequence and the joined
string name the same n-gram and the counts are those of the strings
(``tests/training/test_ngrams.py`` compares both with scikit-learn's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import DTypeLike

from training.parallel import map_chunks

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer


class AmbiguousTokensError(ValueError):
    """A token holds a space: joined n-grams would not name one token sequence."""


@dataclass(frozen=True)
class Tokens:
    """The tokens of some texts: one id per token, the texts one after another."""

    ids: np.ndarray  # int64 id of each token
    text: np.ndarray  # int64 text (row) of each token
    names: np.ndarray  # object array: the token string of each id
    texts: int


def supports(vectorizer: CountVectorizer) -> bool:
    """Whether this module counts like ``vectorizer`` (word n-grams, no stop words)."""
    return (
        vectorizer.analyzer == "word"
        and vectorizer.input == "content"
        and vectorizer.get_stop_words() is None
        and not vectorizer.binary
    )


def _tokenizer(vectorizer: CountVectorizer) -> Callable[[pd.Series], Tokens]:
    """A function tokenising texts as ``vectorizer`` does, before forming n-grams."""
    decode = vectorizer.decode
    preprocess = vectorizer.build_preprocessor()
    split = vectorizer.build_tokenizer()

    def tokens_of(texts: pd.Series) -> Tokens:
        tokens = [split(preprocess(decode(text))) for text in texts]
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        flat = np.empty(int(lengths.sum()), dtype=object)
        flat[:] = [token for text in tokens for token in text]
        codes, names = pd.factorize(flat)
        names = np.asarray(names, dtype=object)
        if any(" " in name for name in names):
            raise AmbiguousTokensError("a token holds a space: its n-grams are ambiguous strings")
        return Tokens(codes, np.repeat(np.arange(len(tokens)), lengths), names, len(tokens))

    return tokens_of


def tokenize(vectorizer: CountVectorizer, texts: pd.Series) -> Tokens:
    """``texts`` tokenised as ``vectorizer`` tokenises them, before forming n-grams."""
    parts = map_chunks(_tokenizer(vectorizer), texts)
    # Each chunk numbers its own tokens and texts: renumber them over all chunks.
    global_ids, names = pd.factorize(np.concatenate([part.names for part in parts]))
    offsets = np.cumsum([0] + [len(part.names) for part in parts])[:-1]
    rows = np.cumsum([0] + [part.texts for part in parts])
    ids = [global_ids[offset + part.ids] for offset, part in zip(offsets, parts, strict=True)]
    text = [row + part.text for row, part in zip(rows[:-1], parts, strict=True)]
    return Tokens(
        np.concatenate(ids).astype(np.int64),
        np.concatenate(text),
        np.asarray(names, dtype=object),
        int(rows[-1]),
    )


def _next_level(
    tokens: Tokens, previous: np.ndarray, last: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n-grams starting at each token: positions, prefix node and last token id."""
    span = len(previous) - n + 1
    if span <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    prefix, final = previous[:span], last[n - 1 :]
    valid = (prefix >= 0) & (final >= 0) & (tokens.text[:span] == tokens.text[n - 1 :])
    at = np.flatnonzero(valid)
    return at, prefix[at], final[at]


def _document_frequency(text: np.ndarray, codes: np.ndarray, size: int, min_df: int) -> np.ndarray:
    """In how many texts each code occurs, where that can be ``min_df`` (else less)."""
    # A code seen fewer than min_df times is in fewer texts: only the others are counted
    # exactly (a hash of distinct (text, code) pairs, the costly part).
    often = np.bincount(codes, minlength=size)[codes] >= min_df
    pairs = pd.unique(text[often] * size + codes[often])
    return np.bincount(pairs % size, minlength=size)


def _counts(
    rows: list[np.ndarray], columns: list[np.ndarray], shape: tuple[int, int], dtype: DTypeLike
) -> sp.csr_matrix:
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    column = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    ones: np.ndarray = np.ones(len(row), dtype=dtype)
    return sp.csr_matrix((ones, (row, column)), shape=shape)  # sums repeats, sorts columns


def learn(
    tokens: Tokens, ngram_range: tuple[int, int], min_df: int, max_chars: int, dtype: DTypeLike
) -> tuple[np.ndarray, sp.csr_matrix]:
    """The sorted n-grams in at least ``min_df`` texts and of at most ``max_chars``
    characters, and each text's counts of them (``CountVectorizer(min_df=...)``)."""
    min_n, max_n = ngram_range
    tokens_count = len(tokens.names)
    df = _document_frequency(tokens.text, tokens.ids, tokens_count, min_df)
    chars = pd.Series(tokens.names, dtype=object).str.len().to_numpy(np.int64)
    kept = np.flatnonzero((df >= min_df) & (chars <= max_chars))
    unigram = np.full(tokens_count, -1, dtype=np.int64)
    unigram[kept] = np.arange(len(kept))
    last = unigram[tokens.ids]  # each token's node among the kept unigrams
    kept_names, kept_chars = tokens.names[kept], chars[kept]
    level_terms, level_chars = kept_names, kept_chars
    terms: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    nodes: list[np.ndarray] = []  # node of each counted n-gram, numbered over all levels
    numbered = 0
    if min_n <= 1:
        at = np.flatnonzero(last >= 0)
        terms.append(level_terms)
        rows.append(tokens.text[at])
        nodes.append(last[at])
        numbered = len(level_terms)
    previous = last
    for n in range(2, max_n + 1):
        at, prefix, final = _next_level(tokens, previous, last, n)
        codes, keys = pd.factorize(prefix * len(kept) + final)
        df = _document_frequency(tokens.text[at], codes, len(keys), min_df)
        parent, child = keys // len(kept), keys % len(kept)
        chars_n = level_chars[parent] + 1 + kept_chars[child]
        frequent = (df >= min_df) & (chars_n <= max_chars)
        node = np.full(len(keys), -1, dtype=np.int64)
        node[frequent] = np.arange(int(frequent.sum()))
        previous = np.full(len(previous), -1, dtype=np.int64)
        previous[at] = node[codes]
        level_terms = level_terms[parent[frequent]] + " " + kept_names[child[frequent]]
        level_chars = chars_n[frequent]
        if n >= min_n:
            counted = node[codes] >= 0
            terms.append(level_terms)
            rows.append(tokens.text[at[counted]])
            nodes.append(node[codes][counted] + numbered)
            numbered += len(level_terms)
    names = np.concatenate(terms).astype(str) if terms else np.zeros(0, dtype=str)
    order = np.argsort(names, kind="stable")
    column = np.empty(len(order), dtype=np.int64)
    column[order] = np.arange(len(order))
    counts = _counts(rows, [column[node] for node in nodes], (tokens.texts, len(order)), dtype)
    return names[order], counts


@dataclass(frozen=True)
class CompiledVocabulary:
    """A vocabulary as nodes: its tokens, then per level n the (prefix node, token) pairs
    of its n-grams' first n tokens and the column of those that are a whole term."""

    tokens: pd.Index  # level 1: node = position here
    keys: list[pd.Index]  # levels 2..: prefix node * len(tokens) + token -> node
    columns: list[np.ndarray]  # per level from 1: node -> column, -1 if no term ends there
    ngram_range: tuple[int, int]
    size: int


def compile_vocabulary(vocabulary: np.ndarray, ngram_range: tuple[int, int]) -> CompiledVocabulary:
    """``vocabulary`` (column = position in it) as nodes for ``count``."""
    terms = np.asarray(vocabulary, dtype=str)
    lengths = np.strings.count(terms, " ").astype(np.int64) + 1
    flat = np.array(" ".join(terms.tolist()).split(" "), dtype=object)  # every term's tokens
    codes, names = pd.factorize(flat)
    known = len(names)
    starts = np.cumsum(lengths) - lengths
    node = np.full(len(terms), -1, dtype=np.int64)  # each term's node at the current level
    keys: list[pd.Index] = []
    columns: list[np.ndarray] = []
    for n in range(1, ngram_range[1] + 1):
        longer = np.flatnonzero(lengths >= n)
        if n == 1:
            node[longer] = codes[starts[longer]]
            nodes = known
        else:
            node[longer], level_keys = pd.factorize(
                node[longer] * known + codes[starts[longer] + n - 1]
            )
            keys.append(pd.Index(level_keys))
            nodes = len(level_keys)
        column = np.full(nodes, -1, dtype=np.int64)
        ends = np.flatnonzero(lengths == n)
        column[node[ends]] = ends
        columns.append(column)
    return CompiledVocabulary(pd.Index(names), keys, columns, ngram_range, len(terms))


def count(tokens: Tokens, vocabulary: CompiledVocabulary, dtype: DTypeLike) -> sp.csr_matrix:
    """Each text's counts of the n-grams of ``vocabulary``,
    ``CountVectorizer(vocabulary=...).transform``."""
    min_n, max_n = vocabulary.ngram_range
    known = len(vocabulary.tokens)
    last = vocabulary.tokens.get_indexer(tokens.names)[tokens.ids]  # -1: not in any term
    level = last
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    for n in range(1, max_n + 1):
        if n == 1:
            at = np.flatnonzero(last >= 0)
        else:
            at, prefix, final = _next_level(tokens, level, last, n)
            level = np.full(len(level), -1, dtype=np.int64)
            level[at] = vocabulary.keys[n - 2].get_indexer(prefix * known + final)  # -1: absent
            at = at[level[at] >= 0]
        if n >= min_n:
            term = vocabulary.columns[n - 1][level[at]]
            rows.append(tokens.text[at[term >= 0]])
            columns.append(term[term >= 0])
    return _counts(rows, columns, (tokens.texts, vocabulary.size), dtype)


def transform(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """``vectorizer.transform(texts)`` for a vectorizer with a vocabulary (fitted or given),
    in row chunks on every core."""
    terms = vectorizer.vocabulary
    if not isinstance(terms, np.ndarray):
        terms = vectorizer.get_feature_names_out()  # ordered by column
    vocabulary = compile_vocabulary(terms, vectorizer.ngram_range)  # once, before forking
    tokens_of = _tokenizer(vectorizer)
    parts = map_chunks(lambda chunk: count(tokens_of(chunk), vocabulary, vectorizer.dtype), texts)
    return parts[0] if len(parts) == 1 else sp.csr_matrix(sp.vstack(parts, format="csr"))
