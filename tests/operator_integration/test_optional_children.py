"""Optional integrations: switching them adds and removes children; absent CRDs are reported.

The session's cluster has the real KEDA and Prometheus Operator CRDs installed; the test
of their absence removes them and puts them back.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from sentiment_operator.kube import ObjectRef
from sentiment_operator.settings import OperatorSettings

from tests.operator_integration.conftest import (
    install_optional_crds,
    remove_optional_crds,
    restart_operators,
)
from tests.operator_integration.harness import (
    Cluster,
    ModelRegistry,
    OperatorProcess,
    condition,
    model_spec,
    secret,
    wait_for,
)

pytestmark = pytest.mark.integration

NAME = "reviews"
SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
TRIGGER_AUTHENTICATION = ("keda.sh/v1alpha1", "TriggerAuthentication")
CONFIG_MAP = ("v1", "ConfigMap")
API_KEY = "pk-live-0123456789abcdef"  # must never leave its Secret


def child(cluster: Cluster, kind: tuple[str, str], namespace: str, name: str = NAME) -> Any:
    """The child of ``kind`` named ``name``, or None."""
    return cluster.api.get(ObjectRef(*kind, namespace, name))


def appears(cluster: Cluster, kind: tuple[str, str], namespace: str, name: str = NAME) -> Any:
    return wait_for(
        lambda: child(cluster, kind, namespace, name), timeout=30, what=f"{kind[1]} {name}"
    )


def disappears(cluster: Cluster, kind: tuple[str, str], namespace: str, name: str = NAME) -> None:
    wait_for(
        lambda: child(cluster, kind, namespace, name) is None,
        timeout=30,
        what=f"{kind[1]} {name} to be deleted",
    )


def serve(
    cluster: Cluster, models: ModelRegistry, namespace: str, model: str, **sections: Any
) -> Any:
    """Register and promote a version, create the SentimentModel, wait for its Deployment."""
    models.add_version(model)
    models.promote(model, "1")
    created = cluster.create_model(namespace, NAME, model_spec(models.url, model, **sections))
    wait_for(lambda: cluster.deployment(namespace, NAME), timeout=60, what="the Deployment")
    return created


def operator_owns_replicas(deployment: dict[str, Any]) -> bool:
    """Whether the operator's field manager claims ``spec.replicas`` (server-side apply)."""
    for entry in deployment["metadata"].get("managedFields") or []:
        if entry.get("manager") == OperatorSettings().field_manager:
            return "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    raise AssertionError("the operator manages no field of the Deployment")


def condition_is(cluster: Cluster, namespace: str, type_: str, status: str) -> bool:
    return condition(cluster.model(namespace, NAME), type_).get("status") == status


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    references = obj["metadata"].get("ownerReferences") or []
    return [r["uid"] for r in references] == [owner["metadata"]["uid"]]


def test_monitoring_and_dashboard_switch_their_children(
    cluster: Cluster, namespace: str, models: ModelRegistry, model_name: str
) -> None:
    owner = serve(cluster, models, namespace, model_name)
    wait_for(lambda: cluster.service(namespace, NAME), timeout=30, what="the Service")
    assert child(cluster, SERVICE_MONITOR, namespace) is None
    assert child(cluster, CONFIG_MAP, namespace, f"{NAME}-dashboard") is None

    cluster.patch_model(namespace, NAME, {"spec": {"monitoring": {"enabled": True}}})
    monitor = appears(cluster, SERVICE_MONITOR, namespace)
    service = cluster.service(namespace, NAME)
    assert service is not None
    assert owned_by(monitor, owner)
    assert monitor["metadata"]["labels"]["app.kubernetes.io/instance"] == NAME
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}

    cluster.patch_model(namespace, NAME, {"spec": {"monitoring": {"dashboard": True}}})
    dashboard = appears(cluster, CONFIG_MAP, namespace, f"{NAME}-dashboard")
    assert owned_by(dashboard, owner)
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"

    cluster.patch_model(namespace, NAME, {"spec": {"monitoring": {"dashboard": False}}})
    disappears(cluster, CONFIG_MAP, namespace, f"{NAME}-dashboard")
    cluster.patch_model(namespace, NAME, {"spec": {"monitoring": {"enabled": False}}})
    disappears(cluster, SERVICE_MONITOR, namespace)
    assert cluster.deployment(namespace, NAME) is not None
    assert cluster.service(namespace, NAME) is not None
    cluster.delete_models(namespace)


def test_autoscaling_hands_replicas_to_keda_and_predictkube_adds_its_authentication(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    models: ModelRegistry,
    model_name: str,
) -> None:
    cluster.api.create(secret(namespace, "predictkube-api-key", {"apiKey": API_KEY}))
    owner = serve(
        cluster, models, namespace, model_name,
        autoscaling={"enabled": True}, server={"replicas": 2},
    )  # fmt: skip
    scaled = appears(cluster, SCALED_OBJECT, namespace)
    assert owned_by(scaled, owner)
    assert scaled["spec"]["scaleTargetRef"]["name"] == NAME
    deployment = cluster.deployment(namespace, NAME)
    assert deployment is not None
    assert not operator_owns_replicas(deployment)
    assert child(cluster, TRIGGER_AUTHENTICATION, namespace) is None

    # KEDA's HPA scales the Deployment; the operator must leave that alone.
    cluster.api.patch(
        ObjectRef("apps/v1", "Deployment", namespace, NAME), {"spec": {"replicas": 3}}
    )
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
        timeout=90, what="Ready after the scale-up",
    )  # fmt: skip
    assert "3 ready replicas" in condition(cluster.model(namespace, NAME), "Ready")["message"]
    assert (cluster.deployment(namespace, NAME) or {})["spec"]["replicas"] == 3

    cluster.patch_model(
        namespace, NAME, {"spec": {"autoscaling": {"predictkube": {"enabled": True}}}}
    )
    authentication = appears(cluster, TRIGGER_AUTHENTICATION, namespace)
    assert owned_by(authentication, owner)
    assert authentication["spec"]["secretTargetRef"][0]["name"] == "predictkube-api-key"
    scaled = wait_for(
        lambda: len((s := child(cluster, SCALED_OBJECT, namespace))["spec"]["triggers"]) == 2 and s,
        timeout=30, what="the PredictKube trigger",
    )  # fmt: skip
    model = cluster.model(namespace, NAME)
    for text in (json.dumps(authentication), json.dumps(scaled), json.dumps(model), operator.log()):
        assert API_KEY not in text

    cluster.patch_model(
        namespace, NAME, {"spec": {"autoscaling": {"predictkube": {"enabled": False}}}}
    )
    disappears(cluster, TRIGGER_AUTHENTICATION, namespace)
    assert child(cluster, SCALED_OBJECT, namespace) is not None
    cluster.patch_model(namespace, NAME, {"spec": {"autoscaling": {"enabled": False}}})
    disappears(cluster, SCALED_OBJECT, namespace)
    wait_for(
        lambda: (cluster.deployment(namespace, NAME) or {})["spec"].get("replicas") == 2,
        timeout=30, what="the Deployment pinned to server.replicas again",
    )  # fmt: skip
    cluster.delete_models(namespace)


def test_istio_adds_the_sidecar_stats_port_and_the_injection_label(
    cluster: Cluster, namespace: str, models: ModelRegistry, model_name: str
) -> None:
    serve(cluster, models, namespace, model_name)

    def ports() -> dict[int, str]:
        service = cluster.service(namespace, NAME) or {"spec": {"ports": []}}
        return {port["port"]: port["name"] for port in service["spec"]["ports"]}

    assert 15020 not in ports()
    cluster.patch_model(namespace, NAME, {"spec": {"istio": {"enabled": True}}})
    wait_for(lambda: ports().get(15020) == "http-istio-stats", timeout=30, what="port 15020")
    template = (cluster.deployment(namespace, NAME) or {})["spec"]["template"]["metadata"]
    assert template["labels"]["sidecar.istio.io/inject"] == "true"

    cluster.patch_model(namespace, NAME, {"spec": {"istio": {"enabled": False}}})
    wait_for(lambda: 15020 not in ports(), timeout=30, what="port 15020 to go")
    cluster.delete_models(namespace)


def test_absent_crds_are_reported_and_their_children_follow_once_installed(
    cluster: Cluster,
    operator: OperatorProcess,
    models: ModelRegistry,
    namespace: str,
    model_name: str,
) -> None:
    remove_optional_crds(cluster.kube)
    restart_operators()  # as on a cluster that never had them
    try:
        _absent_then_installed(cluster, operator, models, namespace, model_name)
    finally:
        install_optional_crds(cluster.kube)
        restart_operators()


def _absent_then_installed(
    cluster: Cluster,
    operator: OperatorProcess,
    models: ModelRegistry,
    namespace: str,
    model_name: str,
) -> None:
    serve(
        cluster, models, namespace, model_name,
        monitoring={"enabled": True}, autoscaling={"enabled": True},
    )  # fmt: skip
    status = wait_for(
        lambda: condition(cluster.model(namespace, NAME), "AutoscalingUnavailable").get("status")
        == "True"
        and cluster.status(namespace, NAME),
        timeout=90, what="AutoscalingUnavailable=True",
    )  # fmt: skip
    monitoring = condition({"status": status}, "MonitoringUnavailable")
    assert monitoring["status"] == "True"
    assert "servicemonitors.monitoring.coreos.com" in monitoring["message"]
    assert (
        "scaledobjects.keda.sh"
        in condition({"status": status}, "AutoscalingUnavailable")["message"]
    )
    assert cluster.service(namespace, NAME) is not None
    warnings = wait_for(
        lambda: {e["reason"] for e in cluster.events(namespace, NAME) if e["type"] == "Warning"}
        >= {"MonitoringUnavailable", "AutoscalingUnavailable"}
        and cluster.events(namespace, NAME),
        timeout=90, what="Warning Events for the missing CRDs",
    )  # fmt: skip
    assert warnings

    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
        timeout=90, what="Ready without the optional children",
    )  # fmt: skip
    assert operator.process is not None
    assert operator.process.poll() is None, "the operator must keep running"

    install_optional_crds(cluster.kube)
    appears(cluster, SERVICE_MONITOR, namespace)
    appears(cluster, SCALED_OBJECT, namespace)
    for type_ in ("MonitoringUnavailable", "AutoscalingUnavailable"):
        wait_for(
            functools.partial(condition_is, cluster, namespace, type_, "False"),
            timeout=90, what=f"{type_}=False",
        )  # fmt: skip

    def available_events() -> list[str] | None:
        found = cluster.event_reasons(namespace, NAME)
        return found if {"MonitoringAvailable", "AutoscalingAvailable"} <= set(found) else None

    reasons = wait_for(available_events, timeout=90, what="the *Available Events")
    assert reasons.count("MonitoringUnavailable") == 1, reasons
    assert reasons.count("AutoscalingUnavailable") == 1, reasons
    assert {"MonitoringAvailable", "AutoscalingAvailable"} <= set(reasons)
    cluster.delete_models(namespace)
