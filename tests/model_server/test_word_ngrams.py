"""N-gram keys chained from words' hashes equal the keys of the strings scikit-learn joins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from model_server.compiled import _analyzer, _vocabulary, _vocabulary_counter
from model_server.word_ngrams import WordNgrams, term_keys
from tests.conftest import IMDB_CSV
from training.model import WORD_PATTERN

TEXTS = ["", "one", "Two words", "Three WORDS here!", "Café déjà vu, isn't it? " * 3]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """A few hundred real reviews and some short edge cases."""
    return [*TEXTS, *pd.read_csv(IMDB_CSV)["review"].astype(str).iloc[:300]]


def _ngrams(ngram_range: tuple[int, int], pattern: str = WORD_PATTERN) -> WordNgrams:
    analyzer = _analyzer(CountVectorizer(ngram_range=ngram_range, token_pattern=pattern))
    assert isinstance(analyzer, WordNgrams)
    return analyzer


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 4), (2, 2), (2, 4), (3, 5)])
def test_a_texts_keys_are_the_keys_of_its_joined_ngrams(
    ngram_range: tuple[int, int], texts: list[str]
) -> None:
    ngrams = _ngrams(ngram_range)
    for text in texts:
        grams = CountVectorizer(ngram_range=ngram_range, token_pattern=WORD_PATTERN)
        joined = grams.build_analyzer()(text)
        assert ngrams(text) == joined
        assert sorted(ngrams.keys(text).tolist()) == sorted(term_keys(joined).tolist())


def test_words_that_hold_spaces_are_keyed_by_their_joined_ngrams() -> None:
    """A token pattern that matches across a space: the chain of the words' hashes would
    differ from the joined string's parts, so those texts are keyed string by string."""
    ngrams = _ngrams((1, 2), pattern=r"\w+ \w+|\w+")
    text = "alpha beta, gamma"
    assert ngrams.words(text) == ["alpha beta", "gamma"]
    expected = term_keys(["alpha beta", "gamma", "alpha beta gamma"])
    assert sorted(ngrams.keys(text).tolist()) == sorted(expected.tolist())
    # "alpha beta gamma" has the key of the 3-gram of three plain words.
    assert term_keys(["alpha beta gamma"])[0] in _ngrams((3, 3)).keys("alpha beta gamma")


def test_different_strings_get_different_keys(texts: list[str]) -> None:
    grams = sorted({gram for text in texts for gram in _ngrams((1, 4))(text)})
    odd = ["", " ", "  ", "a", " a", "a ", "a  b", "a b", "b a", "ab", "a b c", "a bc", "ab c"]
    strings = grams + [s for s in odd if s not in grams]
    keys = term_keys(strings)
    assert len(np.unique(keys)) == len(strings) > 100_000
    assert term_keys([]).size == 0


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("pattern", [WORD_PATTERN, r"\w+ \w+|\w+"])
@pytest.mark.parametrize("ngram_range", [(1, 4), (2, 3)])
def test_the_counter_counts_what_the_vectorizer_counts(
    pattern: str, ngram_range: tuple[int, int], binary: bool, texts: list[str]
) -> None:
    vectorizer = CountVectorizer(
        ngram_range=ngram_range, token_pattern=pattern, min_df=2, binary=binary
    )
    vectorizer.fit(texts[5:150])
    terms, columns = _vocabulary(vectorizer)
    count = _vocabulary_counter(_analyzer(vectorizer), terms, columns, binary=binary)
    expected = vectorizer.transform(texts)
    for row, text in enumerate(texts):
        indices, values = count(text)
        want = expected.getrow(row)
        assert dict(zip(indices.tolist(), values.tolist(), strict=True)) == dict(
            zip(want.indices.tolist(), want.data.astype(float).tolist(), strict=True)
        )
    assert expected.nnz > 500  # the vocabulary did find the texts' n-grams


@pytest.mark.parametrize(
    ("options", "portable"),
    [
        ({}, True),
        ({"token_pattern": r"(?u)\b\w{2,}\b", "strip_accents": "unicode"}, True),
        ({"tokenizer": str.split, "token_pattern": None}, False),
        ({"preprocessor": str.lower}, False),
    ],
    ids=["default", "another pattern", "own tokenizer", "own preprocessor"],
)
def test_only_a_token_pattern_and_built_in_preprocessing_are_portable(
    options: dict[str, object], portable: bool
) -> None:
    vectorizer = CountVectorizer(**options)
    analyzer = _analyzer(vectorizer)
    assert isinstance(analyzer, WordNgrams)
    assert analyzer.portable is portable
    text = "Two Wörds, one more"
    assert analyzer(text) == vectorizer.build_analyzer()(text)
