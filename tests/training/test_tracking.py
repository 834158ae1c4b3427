"""Choosing the tracking back end, and keeping tokens out of every printable form."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.errors import UserError
from training.tracking import Backend, choose_tracking, redact

TOKEN = "test-token-0123456789abcdef"


def test_embedded_default_lives_in_the_repository(tmp_path: Path):
    target = choose_tracking({}, tmp_path)
    assert target.backend is Backend.EMBEDDED
    assert target.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert target.artifact_location == (tmp_path / "mlartifacts").resolve().as_uri()


def test_tracking_uri_from_environment(tmp_path: Path):
    target = choose_tracking({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path)
    assert (target.backend, target.uri) == (Backend.SERVER, "http://mlflow:5000")


@pytest.mark.parametrize("token_var", ["DAGSHUB_TOKEN", "MLFLOW_TRACKING_PASSWORD"])
def test_dagshub_wins_when_repo_and_token_are_set(tmp_path: Path, token_var: str):
    env = {"DAGSHUB_REPO": "alice/imdb", token_var: TOKEN, "MLFLOW_TRACKING_URI": "http://x"}
    target = choose_tracking(env, tmp_path)
    assert target.backend is Backend.DAGSHUB
    assert target.uri == "https://dagshub.com/alice/imdb.mlflow"
    assert TOKEN not in repr(target)
    assert TOKEN not in target.describe()


def test_dagshub_without_token_is_a_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match="set DAGSHUB_TOKEN"):
        choose_tracking({"DAGSHUB_REPO": "alice/imdb"}, tmp_path)
    with pytest.raises(UserError, match="owner/name"):
        choose_tracking({"DAGSHUB_REPO": "alice", "DAGSHUB_TOKEN": TOKEN}, tmp_path)


def test_redact_removes_credentials_from_uris():
    assert redact("https://bob:s3cret@mlflow.example/api") == "https://mlflow.example/api"
    assert redact("sqlite:////a/b.db") == "sqlite:////a/b.db"
