"""Vectorising on every core gives exactly the matrix (and the model) of one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import parallel
from training.model import (
    ModelParams,
    hashed_counts,
    learn_vocabulary,
    train_pipeline,
    word_vectorizer,
)

PARAMS = ModelParams(ngram_max=2, hashing=True, hash_bits=18, min_df=2, char_ngram_max=3)
VOCABULARY = ModelParams(ngram_max=3, min_df=3)


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS", 0)


@pytest.mark.usefixtures("always_parallel")
@pytest.mark.parametrize("workers", [2, 3])
def test_chunks_stack_into_the_single_process_matrix(imdb_sample: pd.DataFrame, workers: int):
    frame = imdb_sample[["review"]].iloc[:701]  # not a multiple of the chunk count
    step = hashed_counts(PARAMS).fit(frame)
    single = step.transform(frame).tocsr()
    chunked = parallel.transform_rows(step, frame, workers=workers)
    assert chunked.shape == single.shape
    assert (chunked != single).nnz == 0
    np.testing.assert_array_equal(chunked.indptr, single.indptr)


def test_small_inputs_stay_in_one_process(imdb_sample: pd.DataFrame, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_pool)
    frame = imdb_sample[["review"]].iloc[:50]
    step = hashed_counts(PARAMS).fit(frame)
    assert parallel.transform_rows(step, frame).shape == (50, 2**18 + 2**20)


@pytest.mark.parametrize("params", [PARAMS, VOCABULARY], ids=["hashed", "vocabulary"])
def test_parallel_fit_is_the_single_process_fit(
    imdb_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, params: ModelParams
):
    train, held_out = imdb_sample.iloc[:1200], imdb_sample.iloc[1200:][["review"]]
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS", 0)
    forked = train_pipeline(train["review"], train["sentiment"], params)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS", 10**9)
    single = train_pipeline(train["review"], train["sentiment"], params)
    assert forked[0].sparse_output_ == single[0].sparse_output_
    for learnt in ("tfidf", "nb_weighting"):  # every weight learnt from the counts
        np.testing.assert_array_equal(forked[learnt].idf_, single[learnt].idf_)
    features = forked[:-1].transform(held_out)
    assert (features != single[:-1].transform(held_out)).nnz == 0
    # liblinear visits the reviews in a random order (random_state=None): two fits of
    # the same features differ by rounding alone.
    np.testing.assert_allclose(forked[-1].coef_, single[-1].coef_, atol=1e-4)
    assert (forked.predict(held_out) == single.predict(held_out)).mean() > 0.995


@pytest.mark.usefixtures("always_parallel")
@pytest.mark.parametrize("cores", [2, 3])
def test_the_vocabulary_learnt_in_shares_is_count_vectorizers(
    imdb_sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, cores: int
):
    """Each share reports n-grams seen min_df/k times; the merged vocabulary is exact."""
    monkeypatch.setattr(parallel, "available_cores", lambda: cores)
    texts = imdb_sample["review"].iloc[:900]
    vocabulary, counts = learn_vocabulary(texts, VOCABULARY)
    reference = word_vectorizer(VOCABULARY)
    reference.set_params(min_df=VOCABULARY.min_df)
    reference.fit(texts)
    expected = sorted(t for t in reference.vocabulary_ if len(t) <= VOCABULARY.max_term_chars)
    assert vocabulary.tolist() == expected
    assert (counts != word_vectorizer(VOCABULARY, vocabulary).transform(texts)).nnz == 0
