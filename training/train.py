"""DVC stage ``train``: fit the Pipeline to be registered and save it in MLflow's format.

It trains on every split ``ingest`` allows (``final_fit_splits`` in ``ingest.json``):
the Stanford train half only, or the whole CSV (``evaluate`` then refits on the train
split to score the held-out one). Outputs ``models/sentiment/`` (MLmodel, the
skops-serialised Pipeline, its signature and an input example). Nothing talks to the
tracking server here: ``register`` is the one stage that does.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from training.errors import UserError, run_command
from training.model import (
    LABEL_COLUMN,
    TEXT_COLUMN,
    ModelParams,
    compact_vocabulary,
    train_pipeline,
)
from training.params import DEFAULT_PARAMS_PATH, load_params

log = logging.getLogger(__name__)
EXAMPLE_ROWS = 3
EXAMPLE_CHARS = 300
# Given, not inferred: inference loads the model in a subprocess, 10-30 s per save.
RUNTIME_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas")


def read_split(path: Path) -> pd.DataFrame:
    """A split written by ``ingest``."""
    if not path.is_file():
        raise UserError(f"{path} is missing: run the ingest stage first (dvc repro)")
    return pd.read_parquet(path)


def final_training_set(data_dir: Path) -> pd.DataFrame:
    """The reviews the registered model trains on, as ``ingest.json`` allows."""
    summary_path = data_dir / "ingest.json"
    if not summary_path.is_file():
        raise UserError(f"{summary_path} is missing: run the ingest stage first (dvc repro)")
    splits = json.loads(summary_path.read_text(encoding="utf-8")).get("final_fit_splits", ["train"])
    if "train" not in splits or not set(splits) <= {"train", "test"}:
        raise UserError(f"{summary_path}: final_fit_splits must be [train] or [train, test]")
    frames = [read_split(data_dir / f"{name}.parquet") for name in splits]
    return pd.concat(frames, ignore_index=True)


def input_example(frame: pd.DataFrame) -> pd.DataFrame:
    """A few shortened reviews: the shape a client sends."""
    head = frame[TEXT_COLUMN].head(EXAMPLE_ROWS).str.slice(0, EXAMPLE_CHARS)
    return pd.DataFrame({TEXT_COLUMN: head.to_list()})


def save_pipeline(pipeline: Pipeline, example: pd.DataFrame, out: Path) -> None:
    """Save ``pipeline`` as an MLflow sklearn model with signature and input example."""
    import mlflow.sklearn  # here, not at the top: evaluate imports this module without MLflow
    from mlflow.models import infer_signature

    signature = infer_signature(example, pipeline.predict(example))
    compact_vocabulary(pipeline)  # predicting rebuilt the vocabulary dict
    if out.exists():
        shutil.rmtree(out)
    mlflow.sklearn.save_model(
        pipeline,
        str(out),
        signature=signature,
        input_example=example,
        pyfunc_predict_fn="predict",
        pip_requirements=[f"{name}=={version(name)}" for name in RUNTIME_PACKAGES],
    )


def train(data_dir: Path, params: ModelParams, out: Path) -> Pipeline:
    """Run the stage."""
    frame = final_training_set(data_dir)
    started = time.perf_counter()
    pipeline = train_pipeline(frame[TEXT_COLUMN], frame[LABEL_COLUMN], params)
    log.info("trained on %d reviews in %.1fs", len(frame), time.perf_counter() - started)
    started = time.perf_counter()
    save_pipeline(pipeline, input_example(frame), out)
    log.info("saved to %s in %.1fs", out, time.perf_counter() - started)
    return pipeline


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path("models/sentiment"))
    args = parser.parse_args(argv)
    train(args.data, load_params(args.params).train, args.out)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
