"""Fixtures shared by every test folder: the repository, the IMDB data, a real MLflow server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.support.mlflow_server import MlflowServer, mlflow_server

REPO_ROOT = Path(__file__).resolve().parent.parent
IMDB_CSV = Path(
    os.environ.get("IMDB_TRAIN_CSV", REPO_ROOT.parent / "shared/datasets/imdb/train.csv.gz")
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository under test."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def imdb_csv() -> Path:
    """The shared 25,000-review IMDB training file."""
    if not IMDB_CSV.is_file():
        pytest.fail(f"IMDB data not found at {IMDB_CSV}: set IMDB_TRAIN_CSV")
    return IMDB_CSV


@pytest.fixture(scope="session")
def imdb_sample(imdb_csv: Path) -> pd.DataFrame:
    """A fixed-seed sample of 2,000 reviews, balanced by construction of the file."""
    frame = pd.read_csv(imdb_csv).drop_duplicates()
    return frame.sample(n=2000, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="session")
def shared_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the session's tests that only add to it."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
        yield server
