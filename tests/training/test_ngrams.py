"""Counting n-grams on token ids gives exactly scikit-learn's ``CountVectorizer`` matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from training import evaluate, ngrams, parallel
from training.evaluate import count_rows
from training.model import (
    ModelParams,
    compact_vocabulary,
    hashed_counts,
    train_pipeline,
    word_vectorizer,
)

ODD = pd.Series(["", "!!", "?", "Café   café! CAFÉ?", "a b a b a b", "ünïcödé naïve façade"])


def assert_same_matrix(ours: sp.csr_matrix, theirs: sp.spmatrix) -> None:
    """Equal entries in the same order: whatever follows computes the same floats."""
    theirs = sp.csr_matrix(theirs)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


def vectorizer(ngram_range: tuple[int, int]) -> CountVectorizer:
    return word_vectorizer(ModelParams(ngram_max=ngram_range[1])).set_params(
        ngram_range=ngram_range
    )


@pytest.fixture(params=[1, 2], ids=["one process", "forked"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    if request.param == 2:
        monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS", 0)
        monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    else:
        monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS", 10**9)
    return int(request.param)


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize(
    ("ngram_range", "min_df", "max_chars"),
    [((1, 4), 5, 24), ((1, 3), 2, 200), ((1, 1), 1, 200), ((2, 3), 3, 16), ((1, 2), 1, 6)],
)
def test_learnt_vocabulary_and_counts_are_count_vectorizers(
    imdb_sample: pd.DataFrame, ngram_range: tuple[int, int], min_df: int, max_chars: int
):
    texts = pd.concat([imdb_sample["review"].iloc[:600], ODD], ignore_index=True)
    counting = vectorizer(ngram_range)
    tokens = ngrams.tokenize(counting, texts)
    vocabulary, counts = ngrams.learn(tokens, ngram_range, min_df, max_chars, np.float32)
    reference = vectorizer(ngram_range).set_params(min_df=min_df).fit(texts)
    expected = sorted(term for term in reference.vocabulary_ if len(term) <= max_chars)
    assert vocabulary.tolist() == expected
    assert_same_matrix(
        counts, vectorizer(ngram_range).set_params(vocabulary=vocabulary).transform(texts)
    )


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("ngram_range", [(1, 4), (2, 3), (1, 1)])
def test_counts_over_any_vocabulary_are_count_vectorizers(
    imdb_sample: pd.DataFrame, ngram_range: tuple[int, int]
):
    """Unsorted, with n-grams whose prefixes are missing, unseen or too long to count."""
    learnt = vectorizer((1, 4)).set_params(min_df=3).fit(imdb_sample["review"].iloc[:500])
    terms = np.array(sorted(learnt.vocabulary_))
    rng = np.random.default_rng(0)
    chosen = terms[rng.choice(len(terms), size=len(terms) // 3, replace=False)]  # shuffled
    extra = ["never seen here", "a b c d e", "the movie was good and", "cafe", "!", "? !"]
    vocabulary = np.concatenate([chosen, [term for term in extra if term not in set(chosen)]])
    texts = pd.concat([imdb_sample["review"].iloc[500:1100], ODD], ignore_index=True)
    counting = vectorizer(ngram_range).set_params(vocabulary=vocabulary)
    ours = ngrams.transform(counting, texts)
    assert_same_matrix(ours, counting.transform(texts))


def test_a_vocabulary_given_as_a_dict_counts_by_its_columns(imdb_sample: pd.DataFrame):
    texts = imdb_sample["review"].iloc[:300]
    counting = vectorizer((1, 2)).set_params(vocabulary={"the": 2, "the movie": 0, "!": 1})
    assert_same_matrix(ngrams.transform(counting, texts), counting.transform(texts))


def test_tokens_with_spaces_are_refused():
    counting = CountVectorizer(token_pattern=r"\w+ \w+|\w+", ngram_range=(1, 2))
    assert not ngrams.supports(CountVectorizer(analyzer="char"))
    assert not ngrams.supports(CountVectorizer(stop_words="english"))
    with pytest.raises(ngrams.AmbiguousTokensError):
        ngrams.tokenize(counting, pd.Series(["new york is big"]))


@pytest.mark.usefixtures("workers")
def test_evaluate_scores_the_saved_pipeline_exactly(
    imdb_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
):
    """The counts step on token ids, then the Pipeline's own steps: the same probabilities."""
    train, held_out = imdb_sample.iloc[:1200], imdb_sample.iloc[1200:][["review"]]
    pipeline = train_pipeline(train["review"], train["sentiment"], ModelParams(min_df=3))
    compact_vocabulary(pipeline)  # as saved: the vocabulary array alone
    monkeypatch.setattr(evaluate, "transform_rows", None)  # not the per-row fallback
    counts = count_rows(pipeline[0], held_out)
    assert_same_matrix(counts, pipeline[0].transform(held_out))
    ours = pipeline[1:].predict_proba(counts)
    np.testing.assert_array_equal(ours, pipeline.predict_proba(held_out))


def test_other_count_steps_transform_per_row(imdb_sample: pd.DataFrame):
    frame = imdb_sample[["review"]].iloc[:200]
    params = ModelParams(ngram_max=2, hashing=True, hash_bits=16, char_ngram_max=3)
    step = hashed_counts(params).fit(frame)
    assert_same_matrix(count_rows(step, frame), step.transform(frame))
    spaced = hashed_counts(ModelParams(ngram_max=2), np.array(["new york", "york is"]))
    spaced.transformers[0][1].set_params(token_pattern=r"\w+ \w+|\w+")
    spaced.fit(frame)
    assert_same_matrix(count_rows(spaced, frame), spaced.transform(frame))
