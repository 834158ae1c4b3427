"""Create, change, repair and restart: the children always match the SentimentModel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sentiment_operator.kube import ObjectRef

from tests.operator_integration.harness import (
    Cluster,
    ModelRegistry,
    OperatorProcess,
    condition,
    model_spec,
    pinned,
    wait_for,
)

pytestmark = pytest.mark.integration

NAME = "reviews"
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)


def deployment_pinned_to(cluster: Cluster, namespace: str, uri: str) -> dict[str, Any] | None:
    deployment = cluster.deployment(namespace, NAME)
    return deployment if pinned(deployment) == uri else None


def columns(table: str) -> dict[str, str]:
    """The one row of ``kubectl get`` output by column name (empty cells stay empty)."""
    header, row = table.splitlines()
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    return {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, ends, strict=True)
    }


def test_create_makes_owned_labelled_children_pinned_to_the_resolved_version(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.add_version(model_name)
    models.add_version(model_name)
    models.promote(model_name, "1")

    created = cluster.create_model(namespace, NAME, model_spec(models.url, model_name))

    uri = f"models:/{model_name}/1"
    deployment = wait_for(
        lambda: deployment_pinned_to(cluster, namespace, uri), timeout=60,
        what=f"a Deployment pinned to {uri}",
    )  # fmt: skip
    service = wait_for(lambda: cluster.service(namespace, NAME), timeout=30, what="the Service")
    owner = {
        "apiVersion": created["apiVersion"],
        "kind": created["kind"],
        "name": NAME,
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for child in (deployment, service):
        assert child["metadata"]["ownerReferences"] == [owner]
        labels = child["metadata"]["labels"]
        assert all(key in labels for key in STANDARD_LABELS), labels
        assert labels["app.kubernetes.io/instance"] == NAME
        assert labels["app.kubernetes.io/managed-by"] == "sentiment-operator"
    template = deployment["spec"]["template"]["metadata"]
    assert template["labels"]["app.kubernetes.io/version"] == "1"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert sorted(c["kind"] for c in cluster.children(namespace)) == ["Deployment", "Service"]

    status = wait_for(
        lambda: (status := cluster.status(namespace, NAME)).get("modelUri") and status,
        timeout=30, what="the status to report the pinned model URI",
    )  # fmt: skip
    assert status["resolvedVersion"] == "1"
    assert status["modelUri"] == uri
    assert status["observedGeneration"] == 1
    assert status["url"] == f"http://{NAME}.{namespace}.svc.cluster.local:80"
    assert condition({"status": status}, "ModelResolved")["status"] == "True"
    assert condition({"status": status}, "Ready")["status"] == "False"

    # What a user runs: returns once the pinned version serves.
    cluster.kube.kubectl(
        "wait", "--for=condition=Ready", f"sm/{NAME}", "-n", namespace, "--timeout=180s",
        timeout=200,
    )  # fmt: skip
    ready = cluster.model(namespace, NAME) or {}
    assert condition(ready, "Ready")["status"] == "True"
    assert cluster.rolled_out(namespace, NAME) is not None
    listed = columns(cluster.kube.kubectl("get", "sm", NAME, "-n", namespace).stdout)
    assert (listed["SERVING"], listed["READY"]) == ("1", "True"), listed
    assert ready["status"]["lastReadyVersion"] == "1"
    assert ready["status"]["readyReplicas"] == 1
    reasons = cluster.event_reasons(namespace, NAME)
    assert {"Created", "Resolved", "RolloutComplete"} <= set(reasons), reasons


def test_spec_change_updates_the_children(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.promote(model_name, models.add_version(model_name))
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))
    wait_for(lambda: cluster.service(namespace, NAME), timeout=60, what="the Service")

    cluster.patch_model(
        namespace, NAME, {"spec": {"server": {"replicas": 3}, "service": {"port": 8081}}}
    )

    wait_for(
        lambda: (cluster.deployment(namespace, NAME) or {}).get("spec", {}).get("replicas") == 3,
        timeout=30, what="the Deployment to scale to 3 replicas",
    )  # fmt: skip
    wait_for(
        lambda: cluster.service(namespace, NAME)["spec"]["ports"][0]["port"] == 8081,  # type: ignore[index]
        timeout=30, what="the Service to move to port 8081",
    )  # fmt: skip
    status = wait_for(
        lambda: (status := cluster.status(namespace, NAME)).get("observedGeneration") == 2
        and status,
        timeout=30, what="observedGeneration 2",
    )  # fmt: skip
    assert status["url"].endswith(":8081")
    assert pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1"


def test_children_deleted_or_edited_by_hand_are_put_back(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.promote(model_name, models.add_version(model_name))
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))
    uri = f"models:/{model_name}/1"
    first = wait_for(
        lambda: deployment_pinned_to(cluster, namespace, uri), timeout=60, what="the Deployment"
    )
    wait_for(lambda: cluster.service(namespace, NAME), timeout=30, what="the Service")

    for kind, api_version in (("Service", "v1"), ("Deployment", "apps/v1")):
        assert cluster.api.delete(ObjectRef(api_version, kind, namespace, NAME))
    again = wait_for(
        lambda: deployment_pinned_to(cluster, namespace, uri), timeout=30,
        what="the deleted Deployment to come back",
    )  # fmt: skip
    service = wait_for(
        lambda: cluster.service(namespace, NAME),
        timeout=30,
        what="the deleted Service to come back",
    )
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    assert service["metadata"]["ownerReferences"][0]["name"] == NAME

    # A hand edit of a field the operator owns is reverted.
    env = again["spec"]["template"]["spec"]["containers"][0]["env"]
    edited = [
        {**item, "value": "models:/someone-else/9"} if item["name"] == "MODEL_URI" else item
        for item in env
    ]
    containers = [{**again["spec"]["template"]["spec"]["containers"][0], "env": edited}]
    cluster.api.patch(
        ObjectRef("apps/v1", "Deployment", namespace, NAME),
        {"spec": {"replicas": 7, "template": {"spec": {"containers": containers}}}},
    )
    wait_for(
        lambda: (d := deployment_pinned_to(cluster, namespace, uri)) and d["spec"]["replicas"] == 1,
        timeout=30, what="the hand-edited Deployment to be put back",
    )  # fmt: skip


def test_operator_restart_adopts_children_without_duplicates(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    models.promote(model_name, models.add_version(model_name))
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))
    wait_for(lambda: cluster.service(namespace, NAME), timeout=60, what="the Service")
    wait_for(
        lambda: "Created" in cluster.event_reasons(namespace, NAME), timeout=30,
        what="the Created Event (kopf posts Events in the background)",
    )  # fmt: skip
    before = {c["kind"]: c["metadata"]["uid"] for c in cluster.children(namespace)}

    operator.restart()
    # A promotion after the restart proves the new process manages the resource.
    models.promote(model_name, models.add_version(model_name))
    wait_for(
        lambda: deployment_pinned_to(cluster, namespace, f"models:/{model_name}/2"), timeout=60,
        what="the restarted operator to re-pin the Deployment",
    )  # fmt: skip

    after = cluster.children(namespace)
    assert sorted(c["kind"] for c in after) == ["Deployment", "Service"]
    assert {c["kind"]: c["metadata"]["uid"] for c in after} == before
    assert cluster.event_reasons(namespace, NAME).count("Created") == 1
