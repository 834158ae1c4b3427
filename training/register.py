"""DVC stage ``register``: log the run to MLflow and register the model DVC tracks.

The one stage that talks to the tracking server. It records the params, the
held-out metrics, plots and model card, and the data summary of ``ingest`` in one
MLflow run named after the model and its data; uploads ``models/sentiment/`` (the
very files ``train`` saved, not a second serialisation) as the run's logged model;
registers it under ``register.model_name`` with the card and tags; and points
``register.alias`` (and, if set, the deprecated ``register.stage``) at it.

Inside ``dvc exp run`` it registers nothing unless ``register.in_experiments`` is
true, so trying parameters does not add a registry version per try. Outputs
``reports/registration.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.card import model_card, run_name, version_tags
from training.errors import UserError, run_command
from training.params import DEFAULT_PARAMS_PATH, Params, load_params
from training.tracking import TrackingTarget, configure_tracking, redact

log = logging.getLogger(__name__)
MODEL_ARTIFACT = "model"
#: Set by DVC in the stages of ``dvc exp run``.
EXPERIMENT_ENV = "DVC_EXP_BASELINE_REV"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path} is missing: run the earlier stages first (dvc repro)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def flat_params(params: Params) -> dict[str, Any]:
    """Params as MLflow run params (``section.key``)."""
    flat: dict[str, Any] = {}
    for section in ("ingest", "train"):
        for key, value in asdict(getattr(params, section)).items():
            flat[f"{section}.{key}"] = value
    return flat


def _experiment_id(name: str, target: TrackingTarget) -> str:
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=target.artifact_location))


def _log_run(
    params: Params,
    model_dir: Path,
    reports: Path,
    evidence: tuple[dict[str, Any], dict[str, Any], dict[str, str], str],
    target: TrackingTarget,
) -> tuple[str, str]:
    """One run with params, metrics, plots, card and the model files; (run id, model id)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    metrics, ingest_summary, tags, card = evidence
    experiment_id = _experiment_id(params.register.experiment, target)
    name = run_name(params, ingest_summary)
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        run_id = run.info.run_id
        mlflow.log_params({**flat_params(params), "ingest.source_sha256": tags["data.sha256"]})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifacts(str(reports / "plots"), "plots")
        mlflow.log_dict(ingest_summary, "data/ingest.json")
        mlflow.log_text(card, "model_card.md")
        mlflow.set_tag("mlflow.note.content", card)
        model = mlflow.initialize_logged_model(
            name=MODEL_ARTIFACT,
            source_run_id=run_id,
            model_type="sklearn",
            tags=tags,
            params={k: str(v) for k, v in flat_params(params).items()},
            experiment_id=experiment_id,
        )
        client = MlflowClient()
        client.log_model_artifacts(model.model_id, str(model_dir))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
        mlflow.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return run_id, model.model_id


def register(
    params: Params, model_dir: Path, reports: Path, data_dir: Path, repo: Path = Path()
) -> dict[str, Any]:
    """Run the stage; returns what ``registration.json`` records."""
    metrics = _read_json(reports / "metrics.json")
    ingest_summary = _read_json(data_dir / "ingest.json")
    if not (model_dir / "MLmodel").is_file():
        raise UserError(f"no saved model at {model_dir}: run the train stage first (dvc repro)")
    settings = params.register
    if os.environ.get(EXPERIMENT_ENV) and not settings.in_experiments:
        record: dict[str, Any] = {
            "registered": False,
            "reason": "dvc exp run (set register.in_experiments: true to register experiments)",
            "accuracy": metrics.get("accuracy"),
        }
        log.info("DVC experiment: not registering (register.in_experiments is false)")
        _write(reports, record)
        return record

    from mlflow import MlflowClient

    from training.registry import describe, promote, register_version

    tags = version_tags(params, metrics, ingest_summary, repo)
    card = model_card(params, metrics, ingest_summary, tags)
    target = configure_tracking()
    log.info("logging to %s", target.describe())
    run_id, model_id = _log_run(
        params, model_dir, reports, (metrics, ingest_summary, tags, card), target
    )
    client = MlflowClient()
    version = register_version(client, settings.model_name, model_id, run_id, tags)
    describe(client, settings.model_name, version, card)
    if settings.stage or settings.alias:
        promotion = promote(
            client,
            settings.model_name,
            version=version,
            stage=settings.stage or None,
            alias=settings.alias or None,
        )
        log.info("%s", promotion.describe())
    record = {
        "registered": True,
        "model_name": settings.model_name,
        "version": version,
        "model_uri": f"models:/{settings.model_name}/{version}",
        "run_id": run_id,
        "tracking": redact(target.uri),
        "alias": settings.alias or None,
        "stage": settings.stage or None,
        "accuracy": metrics.get("accuracy"),
    }
    _write(reports, record)
    log.info("registered %s v%s (run %s)", settings.model_name, version, run_id)
    return record


def _write(reports: Path, record: dict[str, Any]) -> None:
    (reports / "registration.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")


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
