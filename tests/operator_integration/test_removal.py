"""Removing a field or a section from a SentimentModel removes it from the live children.

Each case creates a resource with something optional, waits until a child shows it,
removes it from the spec and waits until the child no longer has it, while the rest
stays. Pods are not needed, so the Deployments run no replicas unless KEDA owns them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sentiment_operator.kube import ObjectRef

from tests.operator_integration.harness import (
    Cluster,
    ModelRegistry,
    OperatorProcess,
    model_spec,
    secret,
    wait_for,
)

pytestmark = pytest.mark.integration

NAME = "reviews"
Probe = Callable[[Cluster, str], bool]


def _child(cluster: Cluster, namespace: str, api_version: str, kind: str, name: str = NAME) -> Any:
    return cluster.api.get(ObjectRef(api_version, kind, namespace, name))


def _container(cluster: Cluster, namespace: str) -> dict[str, Any]:
    deployment = cluster.deployment(namespace, NAME) or {}
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    return dict((containers or [{}])[0])


def _pod_labels(cluster: Cluster, namespace: str) -> dict[str, str]:
    deployment = cluster.deployment(namespace, NAME) or {}
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"].get("labels") or {}
    return labels


def _istio(cluster: Cluster, namespace: str) -> bool:
    ports = [port["name"] for port in (cluster.service(namespace, NAME) or {})["spec"]["ports"]]
    return "sidecar.istio.io/inject" in _pod_labels(cluster, namespace) or (
        "http-istio-stats" in ports
    )


def _env_from(cluster: Cluster, namespace: str) -> bool:
    return "envFrom" in _container(cluster, namespace)


def _limits(cluster: Cluster, namespace: str) -> bool:
    return "limits" in _container(cluster, namespace).get("resources", {})


def _extra_env(cluster: Cluster, namespace: str) -> bool:
    return any(item["name"] == "FEATURE_FLAG" for item in _container(cluster, namespace)["env"])


def _monitor_label(cluster: Cluster, namespace: str) -> bool:
    monitor = _child(cluster, namespace, "monitoring.coreos.com/v1", "ServiceMonitor") or {}
    return "release" in (monitor.get("metadata", {}).get("labels") or {})


def _monitor(cluster: Cluster, namespace: str) -> bool:
    return _child(cluster, namespace, "monitoring.coreos.com/v1", "ServiceMonitor") is not None


def _dashboard(cluster: Cluster, namespace: str) -> bool:
    return _child(cluster, namespace, "v1", "ConfigMap", f"{NAME}-dashboard") is not None


def _scaled_object(cluster: Cluster, namespace: str) -> bool:
    return _child(cluster, namespace, "keda.sh/v1alpha1", "ScaledObject") is not None


def _predictkube(cluster: Cluster, namespace: str) -> bool:
    scaled = _child(cluster, namespace, "keda.sh/v1alpha1", "ScaledObject") or {}
    triggers = [trigger["type"] for trigger in scaled.get("spec", {}).get("triggers", [])]
    authentication = _child(cluster, namespace, "keda.sh/v1alpha1", "TriggerAuthentication")
    return "predictkube" in triggers or authentication is not None


@dataclass(frozen=True)
class Removal:
    """A spec section that shows in a child, and the merge patch that takes it out."""

    sections: dict[str, Any]
    patch: dict[str, Any]
    present: Probe


NO_PODS = {"server": {"replicas": 0}}
LIMITED = {"requests": {"cpu": "50m"}, "limits": {"memory": "1Gi"}}
AUTOSCALING = {"enabled": True, "minReplicas": 0, "maxReplicas": 1}
CASES = {
    "istio": Removal(
        {**NO_PODS, "istio": {"enabled": True}}, {"istio": {"enabled": False}}, _istio
    ),
    "credentials secret": Removal(
        {**NO_PODS, "registry": {"credentialsSecret": "mlflow-login"}},
        {"registry": {"credentialsSecret": None}},
        _env_from,
    ),
    "resources": Removal(
        {"server": {"replicas": 0, "resources": LIMITED}},
        {"server": {"resources": {"limits": None}}},
        _limits,
    ),
    "env": Removal(
        {"server": {"replicas": 0, "env": [{"name": "FEATURE_FLAG", "value": "on"}]}},
        {"server": {"env": []}},
        _extra_env,
    ),
    "labels": Removal(
        {**NO_PODS, "monitoring": {"enabled": True, "labels": {"release": "kps", "team": "a"}}},
        {"monitoring": {"labels": {"release": None}}},
        _monitor_label,
    ),
    "monitoring": Removal(
        {**NO_PODS, "monitoring": {"enabled": True}}, {"monitoring": {"enabled": False}}, _monitor
    ),
    "dashboard": Removal(
        {**NO_PODS, "monitoring": {"dashboard": True}},
        {"monitoring": {"dashboard": False}},
        _dashboard,
    ),
    "autoscaling": Removal(
        {"autoscaling": AUTOSCALING}, {"autoscaling": {"enabled": False}}, _scaled_object
    ),
    "predictkube": Removal(
        {"autoscaling": {**AUTOSCALING, "predictkube": {"enabled": True}}},
        {"autoscaling": {"predictkube": {"enabled": False}}},
        _predictkube,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_removing_it_from_the_spec_removes_it_from_the_children(
    case: Removal,
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    models: ModelRegistry,
    model_name: str,
) -> None:
    # Neither Secret's content matters here: the registry under test asks for no login.
    cluster.api.create(secret(namespace, "predictkube-api-key", {"apiKey": "pk-0"}))
    login = {"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": "pw"}
    cluster.api.create(secret(namespace, "mlflow-login", login))
    models.add_version(model_name)
    models.promote(model_name, "1")
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name, **case.sections))
    wait_for(lambda: cluster.deployment(namespace, NAME), timeout=60, what="the Deployment")
    wait_for(lambda: case.present(cluster, namespace), timeout=60, what="the optional part")

    cluster.patch_model(namespace, NAME, {"spec": case.patch})

    wait_for(lambda: not case.present(cluster, namespace), timeout=60, what="its removal")
    assert cluster.deployment(namespace, NAME) is not None
    assert cluster.service(namespace, NAME) is not None
