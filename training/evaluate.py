"""DVC stage ``evaluate``: score the model on the held-out split.

When the registered model never saw the held-out split (the Stanford archive), the
saved model is scored as is. When it did (a single CSV: the registered model trains
on all of it), the same Pipeline is refitted on the train split alone and that fit is
scored, so the figure describes the procedure without having seen the test reviews.

Outputs ``reports/metrics.json`` (DVC metrics) and ``reports/plots/`` (DVC plots:
``confusion.csv``, ``roc.csv``, ``precision_recall.csv`` and the same three as PNG
images, which render without a network).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from training import ngrams
from training.errors import UserError, run_command
from training.model import (
    CLASSES,
    LABEL_COLUMN,
    TEXT_COLUMN,
    ModelParams,
    progress,
    train_pipeline,
)
from training.parallel import transform_rows
from training.params import DEFAULT_PARAMS_PATH, load_params
from training.plots import write_images
from training.train import read_split

log = logging.getLogger(__name__)
POSITIVE = CLASSES[1]
TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.")


def load_saved_pipeline(path: Path) -> Pipeline:
    """The Pipeline ``train`` saved, read with skops directly (no MLflow import: seconds).

    Only scikit-learn, numpy and scipy types are trusted, as MLflow's loader would.
    """
    try:
        mlmodel = yaml.safe_load((path / "MLmodel").read_text(encoding="utf-8"))
        flavor = mlmodel["flavors"]["sklearn"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise UserError(f"no saved model at {path}: run the train stage first") from error
    if flavor.get("serialization_format") != "skops":
        raise UserError(f"{path} is not saved with skops: retrain it (dvc repro --force train)")
    import skops.io

    model_file = path / flavor["pickled_model"]
    untrusted = skops.io.get_untrusted_types(file=model_file)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODULES)]
    if foreign:
        raise UserError(f"{model_file} holds types outside scikit-learn: {', '.join(foreign)}")
    pipeline: Pipeline = skops.io.load(model_file, trusted=untrusted)
    return pipeline


def count_rows(step: ColumnTransformer, frame: pd.DataFrame) -> sp.csr_matrix:
    """``step.transform(frame)`` as CSR: a lone word vectorizer with a vocabulary counts on
    token ids (``training/ngrams.py``), any other step transforms rows on every core."""
    blocks = [block for block in step.transformers_ if not _dropped(block[1])]
    if len(blocks) == 1 and step.sparse_output_:
        _, vectorizer, column = blocks[0]
        exact = isinstance(vectorizer, CountVectorizer) and ngrams.supports(vectorizer)
        if exact and isinstance(column, str):
            try:
                return ngrams.transform(vectorizer, frame[column])
            except ngrams.AmbiguousTokensError:
                pass
    return transform_rows(step, frame)


def _dropped(block: object) -> bool:
    return isinstance(block, str) and block == "drop"


def positive_probability(pipeline: Pipeline, texts: pd.Series) -> np.ndarray:
    """Probability of the positive class for each text."""
    frame = pd.DataFrame({TEXT_COLUMN: texts.astype(str)})
    column = list(pipeline.classes_).index(POSITIVE)
    with progress("score", len(texts)):
        counts = count_rows(pipeline[0], frame)
        probabilities: np.ndarray = pipeline[1:].predict_proba(counts)[:, column]
    return probabilities


def score(labels: pd.Series, probability: np.ndarray) -> dict[str, float]:
    """Held-out metrics, predicting positive at probability 0.5 and above."""
    actual = (labels == POSITIVE).to_numpy()
    predicted = probability >= 0.5
    return {
        "accuracy": round(float(accuracy_score(actual, predicted)), 4),
        "precision": round(float(precision_score(actual, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(actual, predicted, zero_division=0)), 4),
        "f1": round(float(f1_score(actual, predicted, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(actual, probability)), 4),
        "test_rows": len(labels),
    }


def write_plots(labels: pd.Series, probability: np.ndarray, out_dir: Path) -> None:
    """Confusion rows, ROC and precision-recall points as DVC's templates read them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    actual = (labels == POSITIVE).to_numpy()
    predicted = np.where(probability >= 0.5, POSITIVE, CLASSES[0])
    pd.DataFrame({"actual": labels.to_numpy(), "predicted": predicted}).to_csv(
        out_dir / "confusion.csv", index=False
    )
    fpr, tpr, thresholds = roc_curve(actual, probability)
    thresholds = np.minimum(thresholds, 1.0)  # the first threshold is +inf by convention
    pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds}).round(5).to_csv(
        out_dir / "roc.csv", index=False
    )
    precision, recall, _ = precision_recall_curve(actual, probability)
    pd.DataFrame({"recall": recall, "precision": precision}).round(5).to_csv(
        out_dir / "precision_recall.csv", index=False
    )
    write_images(actual, probability, out_dir)


def scored_probability(
    model_path: Path, data_dir: Path, params: ModelParams, test: pd.DataFrame
) -> np.ndarray:
    """Positive probabilities on ``test`` of a model that never saw it."""
    summary = json.loads((data_dir / "ingest.json").read_text(encoding="utf-8"))
    if "test" not in summary.get("final_fit_splits", ["train"]):
        return positive_probability(load_saved_pipeline(model_path), test[TEXT_COLUMN])
    log.info("the registered model saw the held-out split: refitting on the train split")
    train = read_split(data_dir / "train.parquet")
    pipeline = train_pipeline(train[TEXT_COLUMN], train[LABEL_COLUMN], params)
    return positive_probability(pipeline, test[TEXT_COLUMN])


def evaluate(
    model_path: Path, data_dir: Path, params: ModelParams, reports: Path
) -> dict[str, Any]:
    """Run the stage; returns the metrics."""
    if not (data_dir / "ingest.json").is_file():
        raise UserError(f"{data_dir / 'ingest.json'} is missing: run the ingest stage first")
    test = read_split(data_dir / "test.parquet")
    probability = scored_probability(model_path, data_dir, params, test)
    metrics = score(test[LABEL_COLUMN], probability)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_plots(test[LABEL_COLUMN], probability, reports / "plots")
    log.info("held-out metrics: %s", metrics)
    return metrics


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--model", type=Path, default=Path("models/sentiment"))
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    evaluate(args.model, args.data, load_params(args.params).train, args.reports)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
