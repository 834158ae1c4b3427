"""The C word n-gram counter counts exactly what scikit-learn's vectorizer counts."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from model_server import _scoring
from model_server.compiled import (
    NativeCounter,
    _analyzer,
    _vocabulary,
    _vocabulary_counter,
    native_tokens,
)
from model_server.word_ngrams import WordNgrams
from tests.conftest import IMDB_CSV
from training.model import WORD_PATTERN

DEFAULT_PATTERN = CountVectorizer().token_pattern
#: Short texts where tokenizers differ: accents and other scripts, digits in other
#: scripts, underscores, "!"/"?" runs, one-letter words, a lone surrogate, a final sigma.
EDGE_TEXTS = [
    "",
    "a",
    "!",
    "I",
    "a!b?c . d",
    "wow!!! really?? no... ok?!",
    "Ünïcødé ÉTÉ café_au_lait x y zz!!?",
    "١٢٣ ٤٥ ᾺΣ ΣΑΣ İstanbul?! Ⅻ ½ ²³ x²",
    "\ud800ab cd \udfff",
    "tab\tnew\nline\u00a0nbsp\u2003em",
    "日本語のテキスト、そして english words",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """The 3,000 reviews shipped with the tests and the edge cases."""
    return [*pd.read_csv(IMDB_CSV)["review"].astype(str), *EDGE_TEXTS]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (DEFAULT_PATTERN, (2, "")),
        (r"\b\w\w+\b", (2, "")),
        (WORD_PATTERN, (1, "!?")),
        (r"(?u)\b\w+\b", (1, "")),
        (r"\b\w+\b|[?!.]", (1, "!.?")),
        (r"(?u)\b\w\w+\b|[!?]", (2, "!?")),
        (r"\w+", None),  # no word boundaries: the same runs, but not a pattern it knows
        (r"(?u)\b\w{2,}\b", None),
        (r"(?u)\b\w+\b|[a!]", None),  # a word character alone is not a run
        (r"(?u)\b\w+\b|[ !]", None),  # a space alone would split as n-grams are joined
        (r"\b\w+\b|[^!]", None),
        (r"\b\w+\b|[\s]", None),
        (r"\w+ \w+|\w+", None),
        (None, None),
    ],
)
def test_only_the_token_patterns_it_reproduces_are_counted_natively(
    pattern: str | None, expected: tuple[int, str] | None
) -> None:
    assert native_tokens(pattern) == expected


def _counter(vectorizer: CountVectorizer) -> Any:
    analyzer = _analyzer(vectorizer)
    assert isinstance(analyzer, WordNgrams)
    terms, columns = _vocabulary(vectorizer)
    return _vocabulary_counter(analyzer, terms, columns, binary=vectorizer.binary)


def _assert_counts_as_the_vectorizer(vectorizer: CountVectorizer, texts: list[str]) -> None:
    count = _counter(vectorizer)
    assert isinstance(count, NativeCounter)
    expected = vectorizer.transform(texts)
    for row, text in enumerate(texts):
        indices, values = count(text)
        want = expected.getrow(row)
        assert len(set(indices.tolist())) == len(indices)
        assert dict(zip(indices.tolist(), values.tolist(), strict=True)) == dict(
            zip(want.indices.tolist(), want.data.astype(float).tolist(), strict=True)
        ), text[:80]
    assert expected.nnz > 100_000  # the vocabulary did find the texts' n-grams


@pytest.mark.parametrize(
    ("pattern", "ngram_range"),
    [
        (WORD_PATTERN, (1, 4)),
        (WORD_PATTERN, (2, 3)),
        (DEFAULT_PATTERN, (1, 4)),
        (DEFAULT_PATTERN, (1, 1)),
        (r"(?u)\b\w\w+\b|[!?.]", (1, 2)),
        (r"\b\w+\b", (3, 5)),
    ],
)
def test_native_counts_are_the_vectorizers_on_thousands_of_reviews(
    pattern: str, ngram_range: tuple[int, int], texts: list[str]
) -> None:
    vectorizer = CountVectorizer(ngram_range=ngram_range, token_pattern=pattern, min_df=2)
    vectorizer.fit(texts[:1500] + EDGE_TEXTS * 2)
    _assert_counts_as_the_vectorizer(vectorizer, texts)


def test_binary_counts_and_lowercase_off_are_the_vectorizers(texts: list[str]) -> None:
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), token_pattern=WORD_PATTERN, binary=True, lowercase=False, min_df=2
    )
    vectorizer.fit(texts[:1500] + EDGE_TEXTS * 2)
    _assert_counts_as_the_vectorizer(vectorizer, texts)


@pytest.mark.parametrize(
    ("options", "portable"),
    [
        ({"strip_accents": "unicode"}, True),  # the project's
        ({"strip_accents": "ascii", "lowercase": False}, True),
        ({"strip_accents": lambda text: text.replace("é", "e")}, False),
        ({"preprocessor": str.upper, "lowercase": False}, False),
    ],
    ids=["unicode", "ascii, case kept", "own accent function", "own preprocessor"],
)
def test_preprocessing_is_the_vectorizers_and_its_own_functions_are_not_portable(
    options: dict[str, Any], portable: bool, texts: list[str]
) -> None:
    """Built-in preprocessing is data (``Preprocessing``): the counter runs without
    scikit-learn. A function of the vectorizer's own still counts natively, in process."""
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), token_pattern=WORD_PATTERN, min_df=2, **options
    )
    vectorizer.fit(texts[:1500] + EDGE_TEXTS * 2)
    _assert_counts_as_the_vectorizer(vectorizer, texts)
    assert _counter(vectorizer).portable is portable


def test_another_token_pattern_is_counted_by_the_python_path(texts: list[str]) -> None:
    vectorizer = CountVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w{2,}\b", min_df=2)
    vectorizer.fit(texts[:300])
    count = _counter(vectorizer)
    assert not isinstance(count, NativeCounter)
    indices, _ = count(texts[400])
    want = vectorizer.transform(texts[400:401])
    assert sorted(indices.tolist()) == sorted(want.indices.tolist())


def test_term_keys_are_the_same_in_every_process() -> None:
    """A table built in one process serves in another: keys hash code points, not the
    per-process salted str hash (which differs between the two)."""
    script = (
        "from model_server import _scoring;"
        "print(hash('great movie'), _scoring.term_keys(['great movie', 'a !']).hex())"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for seed in ("1", "2")
    ]
    assert outputs[0][0] != outputs[1][0]
    assert outputs[0][1] == outputs[1][1]


def _table(terms: list[str]) -> bytes:
    keys = _scoring.term_keys(terms)
    return _scoring.build_table(keys, np.arange(len(terms), dtype=np.int64))


def test_a_text_is_counted_whatever_its_size() -> None:
    table = _table(["good", "good movie", "bad", "movie"])
    assert _scoring.is_closed(["good", "good movie", "bad", "movie"], table)
    found, counts = _scoring.count("", 1, "", 1, 2, table, True)
    assert found == counts == b""
    big = "good movie " * 100_000 + "bad"
    found, counts = _scoring.count(big, 1, "", 1, 2, table, True)
    columns = np.frombuffer(found, np.int64).tolist()
    got = dict(zip(columns, np.frombuffer(counts).tolist(), strict=True))
    assert got == {0: 100_000.0, 1: 100_000.0, 2: 1.0, 3: 100_000.0}


def test_a_vocabulary_missing_an_ngrams_part_is_not_closed_and_not_pruned() -> None:
    """'good movie' without 'movie' (max_df, max_features, a given vocabulary): an n-gram
    whose (n-1)-gram is not a term is still looked up, so it is still counted."""
    terms = ["good", "good movie", "bad"]
    table = _table(terms)
    assert not _scoring.is_closed(terms, table)
    found, _ = _scoring.count("a good movie", 1, "", 1, 2, table, False)
    assert sorted(np.frombuffer(found, np.int64).tolist()) == [0, 1]
    # Told it is closed, it would skip the bigram: the flag matters.
    found, _ = _scoring.count("a good movie", 1, "", 1, 2, table, True)
    assert np.frombuffer(found, np.int64).tolist() == [0]


@pytest.mark.parametrize(
    ("options", "closed"),
    [({"min_df": 2}, True), ({"max_df": 0.2, "min_df": 2}, False), ({"max_features": 3000}, False)],
)
def test_pruned_and_unpruned_counts_are_the_vectorizers(
    options: dict[str, Any], closed: bool, texts: list[str]
) -> None:
    vectorizer = CountVectorizer(ngram_range=(1, 4), token_pattern=WORD_PATTERN, **options)
    vectorizer.fit(texts[:1500])
    terms, columns = _vocabulary(vectorizer)
    assert (
        _scoring.is_closed(terms, _scoring.build_table(_scoring.term_keys(terms), columns))
        is closed
    )
    _assert_counts_as_the_vectorizer(vectorizer, texts)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (("text", 1, "", 1, 2), TypeError, "seven arguments"),
        ((b"text", 1, "", 1, 2, None, False), TypeError, "must be str"),
        (("text", 0, "", 1, 2, None, False), ValueError, "min_run"),
        (("text", 1, "", 2, 1, None, False), ValueError, "low <= high"),
        (("text", 1, "", "1", 2, None, False), TypeError, "integer"),
        (("text", 1, "!a", 1, 2, None, False), ValueError, "no word character"),
        (("text", 1, "", 1, 2, b"1" * 48, False), TypeError, "build_table"),
        (("text", 1, "", 1, 2, b"1" * 24, False), TypeError, "build_table"),
        (("text", 1, "", 1, 2, b"", False), TypeError, "build_table"),
        (("text", 1, "", 1, 2, "table", False), TypeError, "build_table"),
    ],
)
def test_count_refuses_bad_arguments_with_an_error(
    arguments: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _scoring.count(*arguments)


@pytest.mark.parametrize(
    ("keys", "columns", "message"),
    [
        (np.array([5, 5], np.uint64), np.array([0, 1]), "term 1 shares a key"),
        (np.array([0, 5], np.uint64), np.array([0, 1]), "term 0 is 0"),
        (np.array([3, 5], np.uint64), np.array([0, -1]), "negative column"),
        (np.array([3, 5], np.uint64), np.array([0]), "differ in length"),
        (np.array([3], np.uint32), np.array([0]), "whole number"),
    ],
)
def test_a_table_is_refused_for_bad_keys_or_columns(keys: Any, columns: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _scoring.build_table(keys, columns.astype(np.int64))


def test_a_table_of_arbitrary_bytes_cannot_hang_a_lookup() -> None:
    """Every slot taken, none the text's: the probe stops after one round of the table."""
    full = np.full(32, 7, np.uint64).tobytes()  # 16 slots of key 7, column 7
    assert _scoring.count("unknown words", 1, "", 1, 2, full, False) == (b"", b"")


def test_term_keys_refuses_what_is_not_a_str() -> None:
    with pytest.raises(TypeError, match="term 1 is a int"):
        _scoring.term_keys(["good", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence"):
        _scoring.term_keys(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("norm", [0, 1, 2])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("sublinear", [False, True])
def test_the_linear_decision_is_the_numpy_one(sublinear: bool, scaled: bool, norm: int) -> None:
    rng = np.random.default_rng(7)
    weights = rng.normal(size=1000)
    factors = rng.uniform(0.0, 3.0, size=1000) if scaled else None
    for size in (0, 1, 30, 400):
        columns = rng.choice(1000, size=size, replace=False).astype(np.int64)
        counts = rng.integers(1, 9, size=size).astype(np.float64)
        values = np.log(counts) + 1.0 if sublinear else counts.copy()
        if factors is not None:
            values = values * factors[columns]
        total = {0: 0.0, 1: np.abs(values).sum(), 2: np.sqrt(values @ values)}[norm]
        if total > 0:
            values = values / total
        expected = float(values @ weights[columns])
        got = _scoring.linear_decision(columns, counts, sublinear, factors, norm, weights)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_a_row_of_zeros_is_not_divided_by_its_zero_norm() -> None:
    weights = np.ones(4)
    zeros = np.zeros(2)
    assert _scoring.linear_decision(np.array([1, 2]), zeros, False, None, 2, weights) == 0.0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((np.array([4]), np.ones(1), False, None, 0, np.ones(4)), ValueError, "out of range"),
        ((np.array([-1]), np.ones(1), False, None, 0, np.ones(4)), ValueError, "out of range"),
        ((np.array([1, 2]), np.ones(1), False, None, 0, np.ones(4)), ValueError, "differ"),
        ((np.array([1]), np.ones(1), False, np.ones(3), 0, np.ones(4)), ValueError, "differ"),
        ((np.array([1]), np.ones(1), False, None, 3, np.ones(4)), ValueError, "norm must"),
        ((np.array([1]), np.ones(1), False, None, 0), TypeError, "six arguments"),
        ((np.array([1]), np.ones(1), False, None, 0, "weights"), TypeError, "bytes-like"),
    ],
)
def test_the_linear_decision_refuses_bad_arguments(
    arguments: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _scoring.linear_decision(*arguments)
