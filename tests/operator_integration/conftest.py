"""The local cluster with the operator's install applied, the operator running on it, MLflow."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_cluster import build

from tests.operator_integration.harness import (
    Cluster,
    ModelRegistry,
    OperatorProcess,
    install_operator_rbac,
)
from tests.support.kube import KubeCluster, wait_for
from tests.support.mlflow_server import MlflowServer

_counter = itertools.count(1)
#: The optional integrations' CRDs the operator uses, from their own Go modules.
KEDA_CRDS = ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml")
PROMETHEUS_OPERATOR_CRDS = ("monitoring.coreos.com_servicemonitors.yaml",)


def optional_crd_files() -> list[Path]:
    keda = [p for p in build.keda_crds() if p.name in KEDA_CRDS]
    prometheus = [p for p in build.prometheus_operator_crds() if p.name in PROMETHEUS_OPERATOR_CRDS]
    assert len(keda) == len(KEDA_CRDS)
    assert len(prometheus) == len(PROMETHEUS_OPERATOR_CRDS)
    return [*keda, *prometheus]


def install_optional_crds(kube: KubeCluster) -> None:
    for path in optional_crd_files():
        kube.kubectl("apply", "--server-side", "-f", str(path))
    kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


OPTIONAL_GROUP_VERSIONS = ("keda.sh/v1alpha1", "monitoring.coreos.com/v1")


def _served(kube: KubeCluster, group_version: str) -> bool:
    return kube.kubectl("get", "--raw", f"/apis/{group_version}", check=False).returncode == 0


def restart_operators() -> None:
    """Restart the running operator processes after their CRDs went away and came back.

    kopf kept watching the deleted resources and, in one run of the suite, stopped
    handling events at all (the issue of surviving API disruptions is the operator's,
    tracked separately); the tests after this one must not inherit that.
    """
    for process in OperatorProcess.running:
        if process.process is not None:
            process.restart()


def remove_optional_crds(kube: KubeCluster) -> None:
    """Delete the optional CRDs and wait until discovery no longer lists their groups."""
    for path in optional_crd_files():
        kube.kubectl("delete", "--ignore-not-found", "--wait=true", "-f", str(path))
    wait_for(
        lambda: not any(_served(kube, gv) for gv in OPTIONAL_GROUP_VERSIONS), timeout=60,
        what="the optional API groups to leave discovery",
    )  # fmt: skip


@pytest.fixture(scope="session")
def installed(kube_cluster: KubeCluster, repo_root: Path) -> KubeCluster:
    """The CRD, RBAC and ServiceAccount from ``deploy/`` and the optional CRDs, installed."""
    install_operator_rbac(kube_cluster, repo_root)
    install_optional_crds(kube_cluster)
    return kube_cluster


@pytest.fixture(scope="session")
def cluster(installed: KubeCluster) -> Cluster:
    return Cluster(installed)


@pytest.fixture(scope="session")
def operator(
    installed: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, running with its ServiceAccount's token for the whole session."""
    process = OperatorProcess(installed, tmp_path_factory.mktemp("operator"))
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
    """A fresh namespace; its SentimentModels are deleted afterwards, then the namespace."""
    name = cluster.kube.create_namespace(_slug(request))
    yield name
    if operator.process is not None:
        cluster.delete_models(name)
    cluster.kube.delete_namespace(name)


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
