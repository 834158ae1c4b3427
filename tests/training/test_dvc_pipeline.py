"""The real ``dvc repro`` in a fresh clone against a real MLflow server."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
import pandas as pd
import pytest

from tests.support.pipeline import dvc, dvc_repro, fresh_clone, git, ran, set_params

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
    for plot in ("confusion", "roc", "precision_recall"):
        assert (clone / f"reports/plots/{plot}.csv").is_file()
        assert (clone / f"reports/plots/{plot}.png").is_file()
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
    assert run.info.run_name.startswith("word 1-2-gram TF-IDF NB logreg C=5 on imdb-sample")
    plots = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/precision_recall.png" in plots
    version = client.get_model_version(MODEL, "2")
    assert "## How it was evaluated" in (version.description or "")
    assert client.get_registered_model(MODEL).description == version.description
    assert (
        version.tags["data.sha256"]
        == json.loads((clone / "data/ingest.json").read_text())["source_sha256"]
    )
    assert version.tags["git.commit"].startswith(git(clone, "rev-parse", "HEAD").strip())
    assert version.tags["dvc.model_md5"].endswith(".dir")
    assert version.tags["metric.accuracy"] == str(run.data.metrics["accuracy"])
    # The registered files are the very bytes DVC tracks, not a second serialisation.
    downloaded = Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL}/2", dst_path=str(tmp_path / "dl"))
    )
    for name in ("model.skops", "MLmodel"):
        assert (downloaded / name).read_bytes() == (clone / "models/sentiment" / name).read_bytes()


def test_experiments_do_not_register_unless_asked(repo_root, imdb_csv, shared_mlflow, tmp_path):
    model = "dvc-experiment-test"
    clone = fresh_clone(repo_root, tmp_path / "clone")
    set_params(
        clone,
        ingest={"source": str(imdb_csv), "max_rows": 600},
        train={"ngram_max": 1, "hash_bits": 14, "min_df": 2},
        register={"model_name": model},
    )
    git(clone, "commit", "-qam", "tiny sample")
    dvc_repro(clone, shared_mlflow.url)
    client = mlflow.MlflowClient(shared_mlflow.url)
    assert client.get_model_version_by_alias(model, "challenger").version == "1"  # the default

    dvc(clone, shared_mlflow.url, "exp", "run", "-S", "train.classifier_c=3")
    registration = json.loads((clone / "reports/registration.json").read_text())
    assert registration["registered"] is False
    assert [v.version for v in client.search_model_versions(f"name = '{model}'")] == ["1"]

    dvc(clone, shared_mlflow.url, "exp", "run", "-S", "register.in_experiments=true")
    assert json.loads((clone / "reports/registration.json").read_text())["version"] == "2"
