"""Session fixtures of the model-server tests (the served model itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlflow
import pytest
import requests

from tests.model_server.sample_model import RegisteredModel
from tests.support.mlflow_server import MlflowServer


class ConstantModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined,misc]
    """A pyfunc model that is not a scikit-learn one: the wrong flavor to serve."""

    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
        return ["positive"] * len(model_input)


@pytest.fixture(scope="session")
def wrong_flavor_uri(shared_mlflow: MlflowServer) -> str:
    mlflow.set_tracking_uri(shared_mlflow.url)
    mlflow.set_experiment("model-server-tests")  # the active id of another server may linger
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ConstantModel(),
            pip_requirements=["mlflow"],
            registered_model_name="not-sklearn",
        )
    return f"models:/not-sklearn/{info.registered_model_version}"


class TimeoutSession(requests.Session):
    """A keep-alive session whose requests give up after a minute instead of hanging."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return super().request(*args, **kwargs)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with TimeoutSession() as session:
        yield session


@pytest.fixture(scope="session")
def local_pipeline(registered_model: RegisteredModel) -> Any:
    """The registered Pipeline loaded in the test process, to compare answers with."""
    mlflow.set_tracking_uri(registered_model.tracking_uri)
    return mlflow.sklearn.load_model(registered_model.uri)


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """Held-out-like reviews (the first rows of the sample's held-out fifth)."""
    from tests.model_server.sample_model import balanced_sample

    return [str(text) for text in balanced_sample(2_000).review.iloc[:40]]
