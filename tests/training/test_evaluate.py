"""The evaluate stage: a figure from a model that never saw the held-out reviews, and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.errors import UserError
from training.evaluate import evaluate, load_saved_pipeline, scored_probability, write_plots
from training.model import ModelParams, train_pipeline
from training.train import input_example, save_pipeline

SMALL = ModelParams(ngram_max=1, hash_bits=14, min_df=2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_splits(data: Path, sample: pd.DataFrame, final_fit: list[str]) -> pd.DataFrame:
    data.mkdir(parents=True, exist_ok=True)
    sample.iloc[:400].to_parquet(data / "train.parquet", index=False)
    test = sample.iloc[400:600].reset_index(drop=True)
    test.to_parquet(data / "test.parquet", index=False)
    (data / "ingest.json").write_text(json.dumps({"final_fit_splits": final_fit}))
    return test


def test_plots_include_precision_recall_and_images(imdb_sample, tmp_path):
    labels = imdb_sample["sentiment"].iloc[:200]
    probability = np.linspace(0.0, 1.0, len(labels))
    write_plots(labels, probability, tmp_path)
    pr = pd.read_csv(tmp_path / "precision_recall.csv")
    assert list(pr.columns) == ["recall", "precision"]
    assert pr["recall"].between(0, 1).all()
    for name in ("confusion.png", "roc.png", "precision_recall.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC), name


def test_model_that_saw_the_test_split_is_refitted(imdb_sample, tmp_path):
    test = write_splits(tmp_path / "data", imdb_sample, ["train", "test"])
    # A model trained on the test reviews would score them almost perfectly; the stage
    # must not use it, so there is none to use: it refits on the train split.
    probability = scored_probability(tmp_path / "no-model", tmp_path / "data", SMALL, test)
    accuracy = ((probability >= 0.5) == (test["sentiment"] == "positive")).mean()
    assert 0.6 < accuracy < 0.97


def test_model_that_never_saw_the_test_split_is_scored_as_saved(imdb_sample, tmp_path):
    test = write_splits(tmp_path / "data", imdb_sample, ["train"])
    with pytest.raises(UserError, match="no saved model"):
        scored_probability(tmp_path / "no-model", tmp_path / "data", SMALL, test)
    train = imdb_sample.iloc[:400]
    pipeline = train_pipeline(train["review"], train["sentiment"], SMALL)
    save_pipeline(pipeline, input_example(train), tmp_path / "model")
    metrics = evaluate(tmp_path / "model", tmp_path / "data", SMALL, tmp_path / "reports")
    expected = (pipeline.predict(test[["review"]]) == test["sentiment"]).mean()
    assert metrics["accuracy"] == pytest.approx(expected, abs=1e-4)
    assert json.loads((tmp_path / "reports/metrics.json").read_text()) == metrics


def _project_function(values):
    return values


def test_a_saved_model_with_project_code_is_refused(tmp_path):
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = make_pipeline(FunctionTransformer(_project_function))
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n"
    )
    skops.io.dump(pipeline, tmp_path / "model.skops")
    with pytest.raises(UserError, match=r"types outside scikit-learn: .*_project_function"):
        load_saved_pipeline(tmp_path)
