"""The real ``dvc repro`` in a fresh clone against a real MLflow server."""

from __future__ import annotations

import json

import mlflow.pyfunc
import pandas as pd
import pytest

from tests.support.pipeline import dvc_repro, fresh_clone, git, ran, set_params

pytestmark = pytest.mark.integration
MODEL = "dvc-pipeline-test"


def test_repro_trains_registers_and_reruns_only_what_changed(
    repo_root, imdb_csv, shared_mlflow, tmp_path
):
    clone = fresh_clone(repo_root, tmp_path / "clone")
    set_params(
        clone,
        ingest={"source": str(imdb_csv), "max_rows": 2000},
        train={"ngram_max": 2, "hash_bits": 18, "min_df": 2},
        register={"model_name": MODEL, "stage": "Production", "alias": "champion"},
    )
    git(clone, "commit", "-qam", "small sample")

    assert ran(dvc_repro(clone, shared_mlflow.url)) == ["ingest", "train", "evaluate", "register"]
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    assert set(metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert metrics["accuracy"] > 0.75
    assert (clone / "reports/plots/confusion.csv").is_file()
    assert (clone / "reports/plots/roc.csv").is_file()
    assert json.loads((clone / "reports/registration.json").read_text())["version"] == "1"

    assert ran(dvc_repro(clone, shared_mlflow.url)) == []

    set_params(clone, train={"classifier_c": 5.0})
    assert ran(dvc_repro(clone, shared_mlflow.url)) == ["train", "evaluate", "register"]
    assert json.loads((clone / "reports/registration.json").read_text())["version"] == "2"

    mlflow.set_tracking_uri(shared_mlflow.url)
    served = mlflow.pyfunc.load_model(f"models:/{MODEL}/Production")
    reviews = pd.DataFrame(
        {
            "review": [
                "A wonderful film, I loved it.",
                "Dull and awful.",
                "Brilliant acting, a joy to watch.",
            ]
        }
    )
    predictions = list(served.predict(reviews))
    assert predictions == ["positive", "negative", "positive"]
    client = mlflow.MlflowClient(shared_mlflow.url)
    assert client.get_model_version_by_alias(MODEL, "champion").version == "2"
    run = client.get_run(str(client.get_model_version(MODEL, "2").run_id))
    assert run.data.metrics["accuracy"] == pytest.approx(
        json.loads((clone / "reports/metrics.json").read_text())["accuracy"]
    )
    assert run.data.params["train.classifier_c"] == "5.0"
