"""DVC stage ``register``: log the run to MLflow and register the model.

The one stage that talks to the tracking server. It records the params, the
held-out metrics and plots of ``evaluate``, the data summary of ``ingest`` and the
model (with its signature and input example) in one MLflow run, registers the
model under ``register.model_name`` and applies ``register.stage`` /
``register.alias``. Outputs ``reports/registration.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.models import Model

from training.errors import UserError, run_command
from training.evaluate import load_saved_pipeline
from training.params import DEFAULT_PARAMS_PATH, Params, load_params
from training.registry import promote, wait_until_ready
from training.tracking import TrackingTarget, configure_tracking, redact

log = logging.getLogger(__name__)
MODEL_ARTIFACT = "model"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path} is missing: run the earlier stages first (dvc repro)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _experiment_id(name: str, target: TrackingTarget) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=target.artifact_location))


def flat_params(params: Params) -> dict[str, Any]:
    """Params as MLflow run params (``section.key``)."""
    flat: dict[str, Any] = {}
    for section in ("ingest", "train"):
        for key, value in asdict(getattr(params, section)).items():
            flat[f"{section}.{key}"] = value
    return flat


def register(params: Params, model_dir: Path, reports: Path, data_dir: Path) -> dict[str, Any]:
    """Run the stage; returns what ``registration.json`` records."""
    metrics = _read_json(reports / "metrics.json")
    ingest_summary = _read_json(data_dir / "ingest.json")
    pipeline = load_saved_pipeline(model_dir)
    saved = Model.load(str(model_dir))
    example = saved.load_input_example(str(model_dir))

    target = configure_tracking()
    log.info("logging to %s", target.describe())
    settings = params.register
    with mlflow.start_run(experiment_id=_experiment_id(settings.experiment, target)) as run:
        mlflow.log_params(flat_params(params))
        mlflow.log_param("ingest.source_sha256", ingest_summary.get("source_sha256"))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifacts(str(reports / "plots"), "plots")
        mlflow.log_dict(ingest_summary, "data/ingest.json")
        logged = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT,
            signature=saved.signature,
            input_example=example,
            registered_model_name=settings.model_name,
            pyfunc_predict_fn="predict",
        )
    version = str(logged.registered_model_version)
    client = MlflowClient()
    wait_until_ready(client, settings.model_name, version)
    promotion_line = None
    if settings.stage or settings.alias:
        promotion = promote(
            client,
            settings.model_name,
            version=version,
            stage=settings.stage or None,
            alias=settings.alias or None,
        )
        promotion_line = promotion.describe()
        log.info("%s", promotion_line)
    record: dict[str, Any] = {
        "model_name": settings.model_name,
        "version": version,
        "model_uri": f"models:/{settings.model_name}/{version}",
        "run_id": run.info.run_id,
        "tracking": redact(target.uri),
        "stage": settings.stage or None,
        "alias": settings.alias or None,
        "accuracy": metrics.get("accuracy"),
    }
    (reports / "registration.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    log.info("registered %s v%s (run %s)", settings.model_name, version, run.info.run_id)
    return record


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.register", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--model", type=Path, default=Path("models/sentiment"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    register(load_params(args.params), args.model, args.reports, args.data)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
