"""Faults are reported as conditions and Events, retried, and never take children away."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentiment_operator.kube import ApiError, ObjectRef

from tests.operator_integration.harness import (
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    Cluster,
    ModelRegistry,
    OperatorProcess,
    basic_auth_mlflow_server,
    condition,
    model_spec,
    pinned,
    secret,
    wait_for,
)
from tests.support.mlflow_server import mlflow_server
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

NAME = "reviews"


def serve_version_1_without_pods(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> dict[str, Any]:
    """Promote version 1 and serve it with no replicas; the Deployment once pinned to it."""
    models.promote(model_name, models.add_version(model_name))
    spec = model_spec(models.url, model_name, server={"replicas": 0})
    cluster.create_model(namespace, NAME, spec)
    uri = f"models:/{model_name}/1"

    def pinned_to_version_1() -> dict[str, Any] | None:
        found = cluster.deployment(namespace, NAME)
        return found if pinned(found) == uri else None

    deployment: dict[str, Any] = wait_for(
        pinned_to_version_1, timeout=60, what="version 1 to be deployed"
    )
    return deployment


def service_port(cluster: Cluster, namespace: str) -> int | None:
    ports = ((cluster.service(namespace, NAME) or {}).get("spec") or {}).get("ports") or [{}]
    port: int | None = ports[0].get("port")
    return port


def reason_of(cluster: Cluster, namespace: str, type_: str) -> str | None:
    return condition(cluster.model(namespace, NAME), type_).get("reason")


def test_an_invalid_spec_is_refused_at_admission_and_creates_nothing(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    models.promote(model_name, models.add_version(model_name))
    spec = model_spec(models.url, model_name)
    spec["model"]["alias"] = "champion"  # a stage and an alias: the spec must pick one
    with pytest.raises(ApiError) as refused:
        cluster.create_model(namespace, NAME, spec)
    assert refused.value.status == 422
    assert "exactly one of stage and alias must be set" in str(refused.value.body)
    assert cluster.model(namespace, NAME) is None
    assert cluster.children(namespace) == []

    # The operator is alive and acts on the corrected spec.
    assert operator.process is not None
    assert operator.process.poll() is None
    del spec["model"]["alias"]
    cluster.create_model(namespace, NAME, spec)
    wait_for(
        lambda: pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1",
        timeout=60, what="the corrected spec to be deployed",
    )  # fmt: skip
    assert condition(cluster.model(namespace, NAME), "Degraded").get("status") != "True"


def test_a_child_the_api_server_refuses_is_reported_in_one_line_and_the_old_one_stays(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    before = serve_version_1_without_pods(cluster, models, namespace, model_name)

    # Passes the CRD (affinity is a Kubernetes object passed on as given), not the Deployment's
    # validation: a node affinity needs at least one selector term.
    empty_terms: dict[str, list[str]] = {"nodeSelectorTerms": []}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": empty_terms}}
    cluster.patch_model(namespace, NAME, {"spec": {"server": {"affinity": affinity}}})

    wait_for(
        lambda: reason_of(cluster, namespace, "Ready") == "ChildInvalid",
        timeout=60, what="the refusal in the Ready condition",
    )  # fmt: skip
    message = condition(cluster.model(namespace, NAME), "Ready")["message"]
    assert message.startswith(f"Deployment {namespace}/{NAME} was refused: "), message
    assert "nodeSelectorTerms" in message
    assert "\n" not in message
    after = cluster.deployment(namespace, NAME) or {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    cluster.patch_model(namespace, NAME, {"spec": {"server": {"affinity": None}}})
    wait_for(
        lambda: reason_of(cluster, namespace, "Ready") != "ChildInvalid",
        timeout=60, what="the corrected spec to clear the refusal",
    )  # fmt: skip


def test_model_missing_from_the_registry_is_retried_until_it_appears(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))

    wait_for(
        lambda: reason_of(cluster, namespace, "ModelResolved") == "ModelNotFound", timeout=60,
        what="ModelResolved=False with reason ModelNotFound",
    )  # fmt: skip
    assert cluster.children(namespace) == []
    wait_for(
        lambda: "ModelNotFound" in cluster.event_reasons(namespace, NAME), timeout=15,
        what="a ModelNotFound event",
    )  # fmt: skip

    models.promote(model_name, models.add_version(model_name))
    wait_for(
        lambda: pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1",
        timeout=60, what="the model to be deployed once it is registered",
    )  # fmt: skip
    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "ModelResolved").get("status") == "True",
        timeout=15, what="ModelResolved=True",
    )  # fmt: skip


def test_missing_credentials_secret_is_reported_until_it_exists(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    models.promote(model_name, models.add_version(model_name))
    spec = model_spec(models.url, model_name, registry={"credentialsSecret": "mlflow-login"})
    cluster.create_model(namespace, NAME, spec)

    wait_for(
        lambda: reason_of(cluster, namespace, "ModelResolved") == "CredentialsMissing",
        timeout=60, what="ModelResolved=False with reason CredentialsMissing",
    )  # fmt: skip
    assert "mlflow-login" in condition(cluster.model(namespace, NAME), "ModelResolved")["message"]
    assert cluster.children(namespace) == []

    password = "s3cret-do-not-leak"
    data = {"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": password}
    cluster.api.create(secret(namespace, "mlflow-login", data))
    deployment = wait_for(
        lambda: cluster.deployment(namespace, NAME), timeout=60,
        what="the Deployment once the Secret exists",
    )  # fmt: skip
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-login"}}]
    model = cluster.model(namespace, NAME)
    assert password not in str(model)
    assert password not in str(cluster.events(namespace))
    assert password not in operator.log()


def test_unreachable_registry_is_reported_and_the_children_keep_serving(
    cluster: Cluster, namespace: str, model_name: str, tmp_path: Path
) -> None:
    port = free_port()
    with mlflow_server(tmp_path / "mlflow", port=port) as server:
        registry = ModelRegistry(server.url)
        registry.promote(model_name, registry.add_version(model_name))
        cluster.create_model(namespace, NAME, model_spec(server.url, model_name))
        wait_for(lambda: cluster.service(namespace, NAME), timeout=60, what="the Service")
        cluster.wait_rolled_out(namespace, NAME)
        wait_for(
            lambda: condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
            timeout=90, what="Ready=True",
        )  # fmt: skip
        before = {c["kind"]: c["metadata"]["uid"] for c in cluster.children(namespace)}

    # The registry is down now.
    wait_for(
        lambda: reason_of(cluster, namespace, "ModelResolved") == "RegistryUnavailable",
        timeout=60, what="ModelResolved=False with reason RegistryUnavailable",
    )  # fmt: skip
    model = cluster.model(namespace, NAME)
    assert server.url in condition(model, "ModelResolved")["message"]
    assert condition(model, "Ready")["status"] == "True"  # still serving version 1
    assert {c["kind"]: c["metadata"]["uid"] for c in cluster.children(namespace)} == before
    assert pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1"
    assert "RegistryUnavailable" in cluster.event_reasons(namespace, NAME)

    # Back up on the same address: the operator's retries find it again.
    with mlflow_server(tmp_path / "mlflow", port=port):
        wait_for(
            lambda: condition(cluster.model(namespace, NAME), "ModelResolved").get("status")
            == "True",
            timeout=60, what="ModelResolved=True once the registry is back",
        )  # fmt: skip
    assert cluster.api.get(ObjectRef("apps/v1", "Deployment", namespace, NAME)) is not None


def test_credentials_from_the_secret_reach_the_registry(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "Adm1n-pass-for-this-test-only"
    with basic_auth_mlflow_server(tmp_path / "mlflow", admin_password=password) as server:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")  # this test's own client
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        registry = ModelRegistry(server.url, source="s3://models/reviews/1")
        registry.promote(model_name, registry.add_version(model_name))
        login = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "wrong"}
        cluster.api.create(secret(namespace, "mlflow-login", login))
        spec = model_spec(server.url, model_name, registry={"credentialsSecret": "mlflow-login"})
        cluster.create_model(namespace, NAME, spec)

        wait_for(
            lambda: reason_of(cluster, namespace, "ModelResolved") == "RegistryAccessDenied",
            timeout=60, what="ModelResolved=False with reason RegistryAccessDenied",
        )  # fmt: skip
        assert cluster.children(namespace) == []

        # Rotating the Secret is enough: the operator reads it on every attempt.
        fixed = secret(namespace, "mlflow-login", {**login, "MLFLOW_TRACKING_PASSWORD": password})
        cluster.api.patch(ObjectRef("v1", "Secret", namespace, "mlflow-login"), fixed)
        wait_for(
            lambda: pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1",
            timeout=60, what="the model deployed with the corrected credentials",
        )  # fmt: skip
    assert password not in str(cluster.model(namespace, NAME))
    assert password not in str(cluster.events(namespace))
    assert password not in operator.log()


def test_the_operator_carries_on_after_the_api_server_was_down(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    serve_version_1_without_pods(cluster, models, namespace, model_name)

    # The operator's watches break and its calls fail for 15 s.
    cluster.kube.restart_component("kube-apiserver", down_seconds=15)

    assert operator.process is not None
    assert operator.process.poll() is None
    # It follows the registry, the spec and hand deletions as before.
    models.promote(model_name, models.add_version(model_name))
    wait_for(
        lambda: pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/2",
        timeout=120, what="the promotion after the restart to be deployed",
    )  # fmt: skip
    cluster.patch_model(namespace, NAME, {"spec": {"service": {"port": 8081}}})
    wait_for(
        lambda: service_port(cluster, namespace) == 8081,
        timeout=60, what="the spec change after the restart to reach the Service",
    )  # fmt: skip
    cluster.api.delete(ObjectRef("v1", "Service", namespace, NAME))
    wait_for(
        lambda: service_port(cluster, namespace) == 8081,
        timeout=60, what="the Service deleted by hand to be put back",
    )  # fmt: skip


def throttle(account: tuple[str, str], name: str) -> list[dict[str, Any]]:
    """API Priority and Fairness objects that give ``account`` one seat and reject the rest
    with 429 Too Many Requests, as a busy API server does."""
    level = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": 1, "lendablePercent": 0,
            "limitResponse": {"type": "Reject"}}},
    }  # fmt: skip
    subject = {"kind": "ServiceAccount",
               "serviceAccount": {"namespace": account[0], "name": account[1]}}  # fmt: skip
    every = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"],
             "clusterScope": True}  # fmt: skip
    schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {"priorityLevelConfiguration": {"name": name}, "matchingPrecedence": 200,
                 "distinguisherMethod": {"type": "ByUser"},
                 "rules": [{"subjects": [subject], "resourceRules": [every]}]},
    }  # fmt: skip
    return [level, schema]


def rejected(cluster: Cluster, level: str) -> int:
    metrics = cluster.kube.kubectl("get", "--raw", "/metrics").stdout
    series = re.findall(
        r"^apiserver_flowcontrol_rejected_requests_total\{(.*)\} (\d+)$", metrics, re.M
    )
    return sum(int(count) for labels, count in series if f'priority_level="{level}"' in labels)


def test_throttled_by_the_api_server_the_operator_gets_every_resource_done(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    models.promote(model_name, models.add_version(model_name))
    spec = model_spec(models.url, model_name, server={"replicas": 0})
    level = f"throttled-{namespace}"[:63]
    objects = throttle((OPERATOR_NAMESPACE, OPERATOR_ACCOUNT), level)
    cluster.kube.apply(*objects)
    try:
        names = [f"{NAME}-{index}" for index in range(12)]
        for name in names:
            cluster.create_model(namespace, name, spec)
        wait_for(
            lambda: all(pinned(cluster.deployment(namespace, n)) for n in names),
            timeout=240, what="every resource's Deployment despite 429s",
        )  # fmt: skip
        assert rejected(cluster, level) > 0  # the API server did say 429
    finally:
        cluster.kube.kubectl("delete", "-f", "-", "--wait=false", stdin=yaml.safe_dump_all(objects))
    assert operator.process is not None
    assert operator.process.poll() is None
