"""The model is one scikit-learn Pipeline from raw text to class, served by MLflow as is."""

from __future__ import annotations

import logging
import re

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from training.model import ModelParams, compact_vocabulary, train_pipeline
from training.train import input_example, save_pipeline

SMALL = ModelParams(ngram_max=2, hash_bits=18, min_df=2)


@pytest.fixture(scope="module")
def pipeline(imdb_sample: pd.DataFrame) -> Pipeline:
    train = imdb_sample.iloc[:1500]
    return train_pipeline(train["review"], train["sentiment"], SMALL)


def test_pipeline_is_sklearn_only(pipeline: Pipeline):
    modules = {type(step).__module__.split(".")[0] for _, step in pipeline.steps}
    assert modules == {"sklearn"}
    assert list(pipeline.classes_) == ["negative", "positive"]


def test_predicts_one_label_and_probability_per_row(pipeline: Pipeline, imdb_sample):
    held_out = imdb_sample.iloc[1500:][["review"]]
    labels = pipeline.predict(held_out)
    probabilities = pipeline.predict_proba(held_out)
    assert labels.shape == (len(held_out),)
    assert probabilities.shape == (len(held_out), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    accuracy = (labels == imdb_sample.iloc[1500:]["sentiment"].to_numpy()).mean()
    assert accuracy > 0.75  # far above chance even on a 1,500-review sample


def test_obvious_reviews(pipeline: Pipeline):
    frame = pd.DataFrame(
        {
            "review": [
                "A wonderful, moving film. Brilliant acting, loved it.",
                "Terrible, boring and stupid. The worst movie, a waste.",
            ]
        }
    )
    assert pipeline.predict(frame).tolist() == ["positive", "negative"]


def test_saved_model_serves_a_multi_row_dataframe(pipeline, imdb_sample, tmp_path):
    example = input_example(imdb_sample)
    save_pipeline(pipeline, example, tmp_path / "model")
    served = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    rows = imdb_sample[["review"]].iloc[:7]
    predictions = served.predict(rows)
    assert len(predictions) == 7
    assert set(np.asarray(predictions)) <= {"positive", "negative"}
    reloaded = mlflow.sklearn.load_model(str(tmp_path / "model"))
    np.testing.assert_allclose(reloaded.predict_proba(rows), pipeline.predict_proba(rows))
    signature = served.metadata.get_input_schema()
    assert signature.input_names() == ["review"]
    # The vocabulary is saved as one array, not a dict of n-grams (see training/model.py).
    words = pipeline.named_steps["counts"].named_transformers_["words"]
    saved_bytes = sum(f.stat().st_size for f in (tmp_path / "model").rglob("*") if f.is_file())
    assert saved_bytes < words.vocabulary.nbytes + 3 * 4 * len(words.vocabulary) + 500_000


def test_words_are_a_learnt_vocabulary_stored_once_as_an_array(pipeline: Pipeline, imdb_sample):
    """No hash collisions; skops stores the vocabulary as one numpy array, not a dict."""
    import skops.io

    words = pipeline.named_steps["counts"].named_transformers_["words"]
    assert type(words).__name__ == "CountVectorizer"
    assert isinstance(words.vocabulary, np.ndarray)
    assert words.vocabulary.dtype.kind == "U"
    assert words.vocabulary.dtype.itemsize // 4 <= SMALL.max_term_chars
    assert words.vocabulary.tolist() == sorted(words.vocabulary.tolist())
    compact_vocabulary(pipeline)  # predicting, the module's other tests rebuilt the dict
    assert not hasattr(words, "vocabulary_")  # rebuilt from the array when used
    width = len(words.vocabulary)
    assert pipeline.named_steps["classifier"].coef_.shape == (1, width)
    assert pipeline.named_steps["tfidf"].idf_.min() > 0  # every n-gram is in min_df reviews
    saved = skops.io.dumps(pipeline)
    # The array once (the unfitted template shares it) and three float32 arrays of its width.
    assert len(saved) < words.vocabulary.nbytes + 3 * 4 * width + 200_000
    loaded = skops.io.loads(saved, trusted=skops.io.get_untrusted_types(data=saved))
    rows = imdb_sample[["review"]].iloc[1500:1600]
    np.testing.assert_array_equal(loaded.predict_proba(rows), pipeline.predict_proba(rows))


def test_hashing_is_still_an_option(imdb_sample):
    hashed = ModelParams(ngram_max=2, hashing=True, hash_bits=14, min_df=2)
    train = imdb_sample.iloc[:300]
    pipeline = train_pipeline(train["review"], train["sentiment"], hashed)
    words = pipeline.named_steps["counts"].named_transformers_["words"]
    assert type(words).__name__ == "HashingVectorizer"
    assert pipeline.named_steps["classifier"].coef_.shape == (1, 2**14)
    assert hashed.describe().startswith("hashed word 1-2")


def test_too_few_reviews_for_any_ngram_is_a_user_error(imdb_sample):
    from training.errors import UserError

    few = imdb_sample.iloc[:4]
    with pytest.raises(UserError, match=r"train\.min_df"):
        train_pipeline(few["review"], few["sentiment"], ModelParams(min_df=5))


def test_ratio_of_unseen_feature_is_finite():
    from scipy import sparse

    from training.model import nb_log_count_ratio

    features = sparse.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    ratio = nb_log_count_ratio(features, np.array([True, False]), alpha=1.0)
    assert np.isfinite(ratio).all()
    assert ratio[2] < ratio[0]  # a feature seen in neither class carries the least weight


def test_fit_reports_each_step_with_its_time(imdb_sample, caplog):
    with caplog.at_level(logging.INFO, logger="training.model"):
        train_pipeline(imdb_sample["review"].iloc[:300], imdb_sample["sentiment"].iloc[:300], SMALL)
    done = [r.getMessage() for r in caplog.records if "done in" in r.getMessage()]
    assert [line.split(":")[0] for line in done] == ["vectorise", "weight", "fit"]
    assert all(re.search(r"done in \d+\.\ds$", line) for line in done)


def test_character_ngrams_join_the_words_in_one_vector(imdb_sample):
    with_chars = ModelParams(
        ngram_max=1,
        hashing=True,
        hash_bits=12,
        char_ngram_min=2,
        char_ngram_max=4,
        char_hash_bits=12,
        min_df=2,
    )
    train = imdb_sample.iloc[:300]
    pipeline = train_pipeline(train["review"], train["sentiment"], with_chars)
    counts = pipeline.named_steps["counts"]
    assert [name for name, _, _ in counts.transformers_] == ["words", "chars"]
    assert pipeline.named_steps["classifier"].coef_.shape == (1, 2 * 2**12)
    assert "char 2-4" in with_chars.describe()
    words_only = train_pipeline(train["review"], train["sentiment"], SMALL)
    assert [name for name, _, _ in words_only.named_steps["counts"].transformers_] == ["words"]
    assert "char" not in SMALL.describe()


@pytest.mark.parametrize(
    "bad",
    [
        {"char_ngram_min": 5, "char_ngram_max": 3},
        {"char_ngram_max": 9},
        {"char_hash_bits": 30},
        {"ngram_max": 0},
        {"classifier_c": 0},
        {"max_term_chars": 0},
    ],
)
def test_bad_params_are_rejected(bad):
    with pytest.raises(ValueError, match="train\\."):
        ModelParams(**bad)
