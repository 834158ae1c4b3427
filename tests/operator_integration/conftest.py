"""The emulated cluster with the CRD installed, the operator running on it, MLflow models."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentiment_operator.crd import build_crd

from tests.operator_integration.harness import Cluster, ModelRegistry, OperatorProcess
from tests.support.kube_emulator import KubeEmulator, kube_emulator
from tests.support.mlflow_server import MlflowServer

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def sentimentmodel_crd(repo_root: Path) -> dict[str, Any]:
    """The CRD as shipped in ``crds/``, or as generated when the file is not there yet."""
    path = repo_root / "crds" / "sentimentmodel.yaml"
    if path.is_file():
        crd: dict[str, Any] = yaml.safe_load(path.read_text())
        return crd
    return build_crd()


@pytest.fixture(scope="session")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, sentimentmodel_crd: dict[str, Any]
) -> Iterator[KubeEmulator]:
    """The Kubernetes API emulator with the SentimentModel CRD applied."""
    with kube_emulator(tmp_path_factory.mktemp("kube"), crds=[sentimentmodel_crd]) as running:
        yield running


@pytest.fixture(scope="session")
def cluster(emulator: KubeEmulator) -> Cluster:
    return Cluster(emulator)


@pytest.fixture(scope="session")
def operator(
    emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, running against the emulator for the whole session."""
    process = OperatorProcess(emulator, tmp_path_factory.mktemp("operator"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def models(shared_mlflow: MlflowServer) -> ModelRegistry:
    return ModelRegistry(shared_mlflow.url)


def _slug(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"{base[:40].rstrip('-')}-{next(_counter)}"


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest, cluster: Cluster, operator: OperatorProcess
) -> Iterator[str]:
    """A fresh namespace; its SentimentModels are deleted afterwards so polling stops."""
    name = _slug(request)
    yield name
    if operator.process is not None:
        cluster.delete_models(name)


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """A registered-model name no other test uses."""
    return f"sentiment-{_slug(request)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    process = getattr(item, "funcargs", {}).get("operator")
    if report.failed and isinstance(process, OperatorProcess):
        tail = "\n".join(process.log().splitlines()[-80:])
        report.sections.append(("operator log (last 80 lines)", tail))
    return report
