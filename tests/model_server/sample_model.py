"""Train the project's Pipeline on a small IMDB sample and register it in MLflow.

Shared by the model-server tests and the server benchmark, so both serve a model
made exactly as the training pipeline makes it: ``train_pipeline`` + ``mlflow.sklearn.log_model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.metrics import accuracy_score

from tests.conftest import IMDB_CSV
from training.model import (
    LABEL_COLUMN,
    TEXT_COLUMN,
    ModelParams,
    compact_vocabulary,
    train_pipeline,
)

SMALL_PARAMS = ModelParams(ngram_max=2, hash_bits=18)


@dataclass(frozen=True)
class RegisteredModel:
    """A model version registered in a running MLflow server."""

    tracking_uri: str
    name: str
    version: str
    run_id: str
    metrics: dict[str, float]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def balanced_sample(rows: int, *, seed: int = 7, path: Path = IMDB_CSV) -> pd.DataFrame:
    """A fixed-seed, class-balanced sample of the IMDB training reviews."""
    frame = pd.read_csv(path)
    per_class = rows // 2
    return (
        frame.groupby(LABEL_COLUMN, group_keys=False)
        .sample(n=per_class, random_state=seed)
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )


def register_sample_model(
    tracking_uri: str,
    name: str,
    *,
    rows: int = 2_000,
    params: ModelParams = SMALL_PARAMS,
    seed: int = 7,
    alias: str | None = None,
) -> RegisteredModel:
    """Train on ``rows`` reviews (a fifth held out), log with signature, register as ``name``."""
    sample = balanced_sample(rows, seed=seed)
    held_out = len(sample) // 5
    test, train = sample.iloc[:held_out], sample.iloc[held_out:]
    pipeline = train_pipeline(train[TEXT_COLUMN], train[LABEL_COLUMN], params)
    test_inputs = test[[TEXT_COLUMN]]
    metrics = {"accuracy": float(accuracy_score(test[LABEL_COLUMN], pipeline.predict(test_inputs)))}

    signature = infer_signature(test_inputs.head(5), pipeline.predict(test_inputs.head(5)))
    compact_vocabulary(pipeline)  # as training's save_pipeline does: predicting rebuilt it

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("model-server-tests")
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=test_inputs.head(2),
            registered_model_name=name,
            # Given, not inferred: inference imports the model in a subprocess (10-30 s)
            # and serving never reads this list.
            pip_requirements=["scikit-learn", "skops", "pandas"],
        )
    version = str(info.registered_model_version)
    if alias is not None:
        mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, alias, version)
    return RegisteredModel(tracking_uri, name, version, run.info.run_id, metrics)
