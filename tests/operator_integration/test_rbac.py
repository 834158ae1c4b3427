"""Least privilege, proven by the API server: what the operator's ServiceAccount may do.

The session installs ``deploy/`` (cluster-wide); one test installs ``deploy/namespaced/``
as a second operator of its own and runs it alone, watching one namespace.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator_integration.harness import (
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    Cluster,
    ModelRegistry,
    OperatorProcess,
    condition,
    model_spec,
    wait_for,
)
from tests.support.kube import KubeCluster

pytestmark = pytest.mark.integration

NAME = "reviews"
Account = tuple[str, str]
CLUSTER_WIDE: Account = (OPERATOR_NAMESPACE, OPERATOR_ACCOUNT)


def can(kube: KubeCluster, account: Account, verb: str, resource: str, namespace: str = "") -> bool:
    """``kubectl auth can-i`` as the ServiceAccount, in ``namespace`` (cluster-wide if empty)."""
    where = ["-n", namespace] if namespace else []
    subject = f"--as=system:serviceaccount:{account[0]}:{account[1]}"
    answer = kube.kubectl("auth", "can-i", verb, resource, subject, *where, check=False)
    assert answer.stdout.strip() in {"yes", "no"}, answer.stdout + answer.stderr
    return answer.stdout.strip() == "yes"


ALLOWED = [
    ("get", "secrets"),
    ("get", "sentimentmodels.mlops.sentiment-operator.io"),
    ("watch", "sentimentmodels.mlops.sentiment-operator.io"),
    ("patch", "sentimentmodels.mlops.sentiment-operator.io/status"),
    ("patch", "deployments.apps"),
    ("create", "deployments.apps"),
    ("delete", "services"),
    ("watch", "scaledobjects.keda.sh"),
    ("patch", "servicemonitors.monitoring.coreos.com"),
    ("patch", "poddisruptionbudgets.policy"),
    ("create", "events"),
]
REFUSED = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("update", "deployments.apps"),
    ("get", "pods"),
    ("delete", "pods"),
    ("create", "sentimentmodels.mlops.sentiment-operator.io"),
    ("delete", "sentimentmodels.mlops.sentiment-operator.io"),
    ("create", "serviceaccounts/token"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
]
CLUSTER_SCOPED_ALLOWED = [("list", "customresourcedefinitions"), ("watch", "namespaces")]
CLUSTER_SCOPED_REFUSED = [
    ("create", "customresourcedefinitions"),
    ("list", "nodes"),
    ("create", "clusterroles"),
    ("create", "namespaces"),
]


def test_the_cluster_wide_install_grants_exactly_what_the_operator_calls(
    cluster: Cluster, namespace: str
) -> None:
    kube = cluster.kube
    for verb, resource in ALLOWED:
        assert can(kube, CLUSTER_WIDE, verb, resource, namespace), (verb, resource)
    for verb, resource in REFUSED:
        assert not can(kube, CLUSTER_WIDE, verb, resource, namespace), (verb, resource)
    for verb, resource in CLUSTER_SCOPED_ALLOWED:
        assert can(kube, CLUSTER_WIDE, verb, resource), (verb, resource)
    for verb, resource in CLUSTER_SCOPED_REFUSED:
        assert not can(kube, CLUSTER_WIDE, verb, resource), (verb, resource)


NAMESPACED_ACCOUNT: Account = ("sentiment-operator-ns", OPERATOR_ACCOUNT)


def namespaced_install(kube: KubeCluster, repo_root: Path, watched: str) -> list[dict[str, Any]]:
    """``deploy/namespaced/`` for ``watched``, beside the session's install: its own
    namespace and cluster-scoped binding; the Deployment is left out (run as a process)."""
    rendered = kube.kubectl("kustomize", str(repo_root / "deploy" / "namespaced")).stdout
    text = rendered.replace(
        f"namespace: {OPERATOR_NAMESPACE}\n", f"namespace: {NAMESPACED_ACCOUNT[0]}\n"
    )
    text = text.replace("namespace: models\n", f"namespace: {watched}\n")
    objects = []
    for obj in yaml.safe_load_all(text):
        if obj is None or obj["kind"] == "Deployment":
            continue
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = {OPERATOR_NAMESPACE: NAMESPACED_ACCOUNT[0]}.get(
                obj["metadata"]["name"], watched
            )
        if obj["kind"] == "ClusterRoleBinding":
            obj["metadata"]["name"] += "-namespaced-test"
        objects.append(obj)
    return objects


@contextlib.contextmanager
def only(process: OperatorProcess) -> Iterator[OperatorProcess]:
    """Run ``process`` with every other operator stopped; restart them afterwards."""
    others = [p for p in OperatorProcess.running if p is not process and p.process is not None]
    for other in others:
        other.stop()
    try:
        process.start()
        yield process
    finally:
        process.stop()
        OperatorProcess.running.remove(process)
        for other in others:
            other.start()


def test_the_namespaced_install_serves_its_namespace_and_may_not_touch_another(
    cluster: Cluster,
    namespace: str,
    models: ModelRegistry,
    model_name: str,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    kube = cluster.kube
    other = kube.create_namespace(f"{namespace}-other")
    objects = namespaced_install(kube, repo_root, namespace)
    kube.apply(*objects)
    try:
        assert can(kube, NAMESPACED_ACCOUNT, "patch", "deployments.apps", namespace)
        assert can(kube, NAMESPACED_ACCOUNT, "get", "secrets", namespace)
        elsewhere = [("patch", "deployments.apps"), ("get", "secrets"), ALLOWED[2]]
        for verb, resource in elsewhere:
            assert not can(kube, NAMESPACED_ACCOUNT, verb, resource, other), (verb, resource)
        assert can(kube, NAMESPACED_ACCOUNT, "list", "customresourcedefinitions")

        models.promote(model_name, models.add_version(model_name))
        spec = model_spec(models.url, model_name, server={"replicas": 0})
        operator = OperatorProcess(
            kube, tmp_path, scope=("--namespace", namespace), account=NAMESPACED_ACCOUNT
        )
        with only(operator):
            cluster.create_model(namespace, NAME, spec)
            cluster.create_model(other, NAME, spec)
            wait_for(
                lambda: condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
                timeout=90, what="the model in the watched namespace to be Ready",
            )  # fmt: skip
            time.sleep(5)  # the unwatched one had as long as the watched one, and more
            assert cluster.deployment(other, NAME) is None
            assert not cluster.status(other, NAME)
            log = operator.log()
            assert "Forbidden" not in log, log[-3000:]
    finally:
        cluster.delete_models(namespace)
        kube.kubectl("delete", "namespace", other, "--wait=false")
        bindings = [o for o in objects if o["kind"] in {"ClusterRoleBinding", "RoleBinding"}]
        kube.kubectl("delete", "-f", "-", "--wait=false", stdin=yaml.safe_dump_all(bindings))
        kube.kubectl("delete", "namespace", NAMESPACED_ACCOUNT[0], "--wait=false")
