"""``promote`` against a real MLflow server: stage, alias, archiving the old holder."""

from __future__ import annotations

import subprocess
import sys
import warnings

import mlflow
import pytest
from mlflow import MlflowClient
from sklearn.dummy import DummyClassifier

from training.errors import UserError
from training.registry import newest_version, promote

MODEL = "promote-test"


def stage_of(client: MlflowClient, version: str) -> str:
    return str(client.get_model_version(MODEL, version).current_stage)


@pytest.fixture(scope="module")
def client(shared_mlflow):
    mlflow.set_tracking_uri(shared_mlflow.url)
    for _ in range(3):
        mlflow.set_experiment("training-tests")  # the active id of another server may linger
        with mlflow.start_run():
            model = DummyClassifier().fit([[0], [1]], ["negative", "positive"])
            mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL)
    return MlflowClient(shared_mlflow.url)


def test_stage_moves_and_archives_previous_holder(client):
    # Stages are deprecated in MLflow 3: its warning reaches the user, not hidden by us.
    with pytest.warns(FutureWarning, match="deprecated"):
        first = promote(client, MODEL, version="1", stage="Production")
    assert (first.version, first.archived) == ("1", ())
    second = promote(client, MODEL, version="2", stage="Production")
    assert second.archived == ("1",)
    assert stage_of(client, "2") == "Production"
    assert stage_of(client, "1") == "Archived"
    assert "archived v1" in second.describe()


def test_newest_version_is_the_default_and_alias_moves(client):
    assert newest_version(client, MODEL) == "3"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # aliases are not deprecated
        promotion = promote(client, MODEL, alias="champion")
    assert promotion.version == "3"
    assert client.get_model_version_by_alias(MODEL, "champion").version == "3"
    moved = promote(client, MODEL, version="2", alias="champion")
    assert moved.previous_alias_holder == "3"
    assert client.get_model_version_by_alias(MODEL, "champion").version == "2"


def test_bad_requests_are_user_errors(client):
    with pytest.raises(UserError, match="give a stage, an alias or both"):
        promote(client, MODEL)
    with pytest.raises(UserError, match="v99 does not exist"):
        promote(client, MODEL, version="99", stage="Staging")
    with pytest.raises(UserError, match="has no versions"):
        newest_version(client, "no-such-model")


def test_cli_promotes_through_the_server(client, shared_mlflow):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.promote",
            "--model",
            MODEL,
            "--version",
            "3",
            "--stage",
            "Staging",
            "--alias",
            "challenger",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": shared_mlflow.url},
    )
    assert result.returncode == 0, result.stderr
    assert "promote-test v3 -> stage Staging" in result.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert stage_of(client, "3") == "Staging"
    assert client.get_model_version_by_alias(MODEL, "challenger").version == "3"


def test_cli_without_stage_or_alias_moves_champion(client, shared_mlflow):
    result = subprocess.run(
        [sys.executable, "-m", "training.promote", "--model", MODEL, "--version", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": shared_mlflow.url},
    )
    assert result.returncode == 0, result.stderr
    assert "promote-test v1 -> alias @champion" in result.stdout
    assert "stage" not in result.stdout
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"


def test_cli_unreachable_registry_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "training.promote", "--model", MODEL, "--stage", "Production"],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        },
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
