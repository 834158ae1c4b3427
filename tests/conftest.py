"""Fixtures shared by every test folder: the repository, the IMDB data, a real MLflow server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from tests.support.kube import KubeCluster, start_cluster, stop_cluster, uses_cluster
from tests.support.mlflow_server import MlflowServer, mlflow_server

if TYPE_CHECKING:
    from tests.model_server.sample_model import RegisteredModel
    from tests.model_server.servers import ModelServer

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "imdb-sentiment-test"
ALIAS = "champion"
MAX_BATCH_SIZE = 50  # small, so over-limit batches are cheap to send
BODY_TIMEOUT_SECONDS = 3  # short, so cut-off bodies are quick to see
#: 3,000 labelled IMDB reviews (1,500 of each class, exact duplicates removed) shipped with
#: the tests, so a bare clone passes; the whole 25,000-review file is for benchmarks only.
IMDB_CSV = Path(os.environ.get("IMDB_TRAIN_CSV", REPO_ROOT / "tests/data/imdb-sample.csv.gz"))


_CLUSTER_KEY = pytest.StashKey["KubeCluster | None"]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Join the local cluster before any test runs, when a selected test needs it.

    Servers that tests start (MLflow, Prometheus) must live in the cluster's network
    namespace for pods to reach them, so the whole session moves there first.
    """
    if session.config.option.collectonly:
        return
    cluster = None
    if any(uses_cluster(getattr(item, "fixturenames", ())) for item in session.items):
        from local_cluster.lifecycle import ClusterError

        try:
            cluster = start_cluster()
        except ClusterError as error:
            pytest.exit(f"the local cluster could not start: {error}", returncode=1)
    session.config.stash[_CLUSTER_KEY] = cluster


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = config.stash.get(_CLUSTER_KEY, None)
    if cluster is not None:
        stop_cluster(cluster)


@pytest.fixture(scope="session")
def kube_cluster(pytestconfig: pytest.Config) -> KubeCluster:
    """The local Kubernetes cluster (joined at collection time)."""
    cluster = pytestconfig.stash.get(_CLUSTER_KEY, None)
    assert cluster is not None, "the cluster is joined when the session starts"
    return cluster


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository under test."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def imdb_csv() -> Path:
    """The labelled IMDB reviews the tests train on (the shipped sample by default)."""
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


@pytest.fixture(scope="session")
def registered_model(shared_mlflow: MlflowServer) -> RegisteredModel:
    """A model trained by the project's Pipeline on a small IMDB sample, registered."""
    from tests.model_server.sample_model import register_sample_model

    return register_sample_model(shared_mlflow.url, MODEL_NAME, alias=ALIAS)


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, registered_model: RegisteredModel
) -> Iterator[ModelServer]:
    """Two workers (the default gevent class) serving the registered model by its pinned URI."""
    from tests.model_server.servers import serving

    with serving(
        tmp_path_factory.mktemp("server"),
        registered_model,
        WORKERS="2",
        THREADS="4",
        MAX_BATCH_SIZE=str(MAX_BATCH_SIZE),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    ) as running:
        yield running
