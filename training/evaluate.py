"""DVC stage ``evaluate``: score the saved Pipeline on the held-out split.

Outputs ``reports/metrics.json`` (DVC metrics) and ``reports/plots/`` (DVC plots:
``confusion.csv`` rows of actual/predicted, ``roc.csv`` points of the ROC curve).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from training.errors import UserError, run_command
from training.model import CLASSES, LABEL_COLUMN, TEXT_COLUMN
from training.train import read_split

log = logging.getLogger(__name__)
POSITIVE = CLASSES[1]


def load_saved_pipeline(path: Path) -> Pipeline:
    """The Pipeline saved by ``train``."""
    if not (path / "MLmodel").is_file():
        raise UserError(f"no saved model at {path}: run the train stage first (dvc repro)")
    pipeline: Pipeline = mlflow.sklearn.load_model(str(path))
    return pipeline


def positive_probability(pipeline: Pipeline, texts: pd.Series) -> np.ndarray:
    """Probability of the positive class for each text."""
    frame = pd.DataFrame({TEXT_COLUMN: texts.astype(str)})
    column = list(pipeline.classes_).index(POSITIVE)
    probabilities: np.ndarray = pipeline.predict_proba(frame)[:, column]
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
    """Confusion rows and ROC points in the shapes DVC's plot templates read."""
    out_dir.mkdir(parents=True, exist_ok=True)
    predicted = np.where(probability >= 0.5, POSITIVE, CLASSES[0])
    pd.DataFrame({"actual": labels.to_numpy(), "predicted": predicted}).to_csv(
        out_dir / "confusion.csv", index=False
    )
    fpr, tpr, thresholds = roc_curve((labels == POSITIVE).to_numpy(), probability)
    thresholds = np.minimum(thresholds, 1.0)  # the first threshold is +inf by convention
    pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds}).round(5).to_csv(
        out_dir / "roc.csv", index=False
    )


def evaluate(model_path: Path, test_path: Path, reports: Path) -> dict[str, float]:
    """Run the stage; returns the metrics."""
    frame = read_split(test_path)
    pipeline = load_saved_pipeline(model_path)
    probability = positive_probability(pipeline, frame[TEXT_COLUMN])
    metrics = score(frame[LABEL_COLUMN], probability)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_plots(frame[LABEL_COLUMN], probability, reports / "plots")
    log.info("held-out metrics: %s", metrics)
    return metrics


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/sentiment"))
    parser.add_argument("--data", type=Path, default=Path("data/test.parquet"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    evaluate(args.model, args.data, args.reports)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
