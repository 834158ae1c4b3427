"""The model is one scikit-learn Pipeline from raw text to class, served by MLflow as is."""

from __future__ import annotations

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from training.model import ModelParams, train_pipeline
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


def test_ratio_of_unseen_feature_is_finite():
    from scipy import sparse

    from training.model import nb_log_count_ratio

    features = sparse.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    ratio = nb_log_count_ratio(features, np.array([True, False]), alpha=1.0)
    assert np.isfinite(ratio).all()
    assert ratio[2] < ratio[0]  # a feature seen in neither class carries the least weight
