"""The local cluster with the operator installed as a user installs it: ``kubectl apply -k``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.operator_integration.conftest import install_optional_crds
from tests.operator_integration.harness import OPERATOR_NAMESPACE, Cluster, OperatorProcess
from tests.support.kube import KubeCluster

OPERATOR_DEPLOYMENT = "sentiment-operator"


@pytest.fixture
def installed_operator(kube_cluster: KubeCluster, repo_root: Path) -> Iterator[Cluster]:
    """``kubectl apply -k deploy/``: the CRD, RBAC and the operator itself, as a pod.

    An operator process another test started is paused meanwhile, so one operator acts.
    """
    paused = [process for process in OperatorProcess.running if process.process is not None]
    for process in paused:
        process.stop()
    install_optional_crds(kube_cluster)
    kube_cluster.kubectl("apply", "-k", str(repo_root / "deploy"))
    try:
        kube_cluster.kubectl(
            "rollout", "status", "-n", OPERATOR_NAMESPACE, f"deployment/{OPERATOR_DEPLOYMENT}",
            "--timeout=180s", timeout=200,
        )  # fmt: skip
        yield Cluster(kube_cluster)
    finally:
        kube_cluster.kubectl(
            "delete", "deployment", "-n", OPERATOR_NAMESPACE, OPERATOR_DEPLOYMENT,
            "--ignore-not-found", "--wait=true", timeout=120,
        )  # fmt: skip
        for process in paused:
            process.start()


def operator_log(cluster: Cluster) -> str:
    done = cluster.kube.kubectl(
        "logs", "-n", OPERATOR_NAMESPACE, f"deployment/{OPERATOR_DEPLOYMENT}", "--tail=80",
        check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    cluster = getattr(item, "funcargs", {}).get("installed_operator")
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(("operator pod log (last 80 lines)", operator_log(cluster)))
    return report
