"""A version that never becomes ready is rolled back to the last ready one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.operator_integration.harness import (
    POLL_SECONDS,
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
DEADLINE_SECONDS = 30  # the shortest the spec accepts
DEADLINE = {"progressDeadlineSeconds": DEADLINE_SECONDS}


def pinned_to(cluster: Cluster, namespace: str, uri: str) -> dict[str, Any] | None:
    deployment = cluster.deployment(namespace, NAME)
    return deployment if pinned(deployment) == uri else None


def test_a_rollout_past_its_deadline_is_rolled_back_to_the_last_ready_version(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.promote(model_name, models.add_version(model_name))
    broken, fixed = models.add_broken_version(model_name), models.add_version(model_name)
    good_uri, broken_uri = f"models:/{model_name}/1", f"models:/{model_name}/{broken}"
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name, rollout=DEADLINE))
    wait_for(lambda: pinned_to(cluster, namespace, good_uri), timeout=60, what="version 1 pinned")
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: cluster.status(namespace, NAME).get("lastReadyVersion") == "1",
        timeout=30, what="version 1 ready",
    )  # fmt: skip

    models.promote(model_name, broken)
    wait_for(lambda: pinned_to(cluster, namespace, broken_uri), timeout=30, what="v2 pinned")
    # Its pod cannot load the model: Kubernetes flags the rollout past its deadline.
    rolled_back = wait_for(
        lambda: pinned_to(cluster, namespace, good_uri), timeout=DEADLINE_SECONDS + 60,
        what="the Deployment pinned back to version 1",
    )  # fmt: skip
    degraded = wait_for(
        lambda: (found := condition(cluster.model(namespace, NAME), "Degraded")).get("status")
        == "True" and found,
        timeout=15, what="Degraded=True",
    )  # fmt: skip
    assert degraded["reason"] == "ProgressDeadlineExceeded"
    assert "v2 did not become ready" in degraded["message"]
    assert "rolled back to v1" in degraded["message"]
    status = cluster.status(namespace, NAME)
    assert (status["resolvedVersion"], status["lastReadyVersion"]) == ("2", "1")
    assert status["modelUri"] == good_uri
    # kopf posts Events from a queue of its own, a moment after the status patch.
    events = wait_for(
        lambda: [e for e in cluster.events(namespace, NAME) if e["reason"] == "RolledBack"],
        timeout=15, what="the RolledBack Event",
    )  # fmt: skip
    assert [e["type"] for e in events] == ["Warning"]
    assert "v2 → v1" in events[0]["message"]

    # The old ReplicaSet serves again; later polls keep the failed version out.
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
        timeout=90, what="Ready=True on version 1 again",
    )  # fmt: skip
    generation = rolled_back["metadata"]["generation"]
    time.sleep(2 * POLL_SECONDS)  # let two polls pass: neither may re-pin version 2
    assert cluster.deployment(namespace, NAME)["metadata"]["generation"] == generation  # type: ignore[index]

    # A new version moves the stage on and is rolled out normally.
    models.promote(model_name, fixed)
    wait_for(
        lambda: pinned_to(cluster, namespace, f"models:/{model_name}/{fixed}"), timeout=30,
        what="the next version pinned",
    )  # fmt: skip
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "Degraded").get("status") == "False",
        timeout=90, what="Degraded=False once version 3 is ready",
    )  # fmt: skip


def test_a_first_version_that_never_becomes_ready_is_reported(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.promote(model_name, models.add_broken_version(model_name))
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name, rollout=DEADLINE))
    wait_for(
        lambda: pinned_to(cluster, namespace, f"models:/{model_name}/1"), timeout=60,
        what="version 1 pinned",
    )  # fmt: skip

    wait_for(
        lambda: condition(cluster.model(namespace, NAME), "Degraded").get("status") == "True",
        timeout=DEADLINE_SECONDS + 60, what="Degraded=True",
    )  # fmt: skip
    model = cluster.model(namespace, NAME)
    assert "no earlier version" in condition(model, "Degraded")["message"]
    assert condition(model, "Ready")["reason"] == "ProgressDeadlineExceeded"
    assert pinned(cluster.deployment(namespace, NAME)) == f"models:/{model_name}/1"


def test_an_operator_stopped_mid_rollout_finishes_it_after_its_restart(
    cluster: Cluster,
    models: ModelRegistry,
    operator: OperatorProcess,
    namespace: str,
    model_name: str,
) -> None:
    models.promote(model_name, models.add_version(model_name))
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: cluster.status(namespace, NAME).get("lastReadyVersion") == "1",
        timeout=30, what="version 1 ready",
    )  # fmt: skip

    models.promote(model_name, models.add_version(model_name))
    new_uri = f"models:/{model_name}/2"
    wait_for(lambda: pinned_to(cluster, namespace, new_uri), timeout=30, what="v2 pinned")
    operator.stop()  # the rollout has just begun; it goes on without the operator
    try:
        cluster.wait_rolled_out(namespace, NAME)
        status = cluster.status(namespace, NAME)
        assert status.get("lastReadyVersion") == "1", "nobody has seen the rollout finish yet"
    finally:
        operator.start()

    wait_for(
        lambda: cluster.status(namespace, NAME).get("lastReadyVersion") == "2"
        and condition(cluster.model(namespace, NAME), "Ready").get("status") == "True",
        timeout=60, what="the restarted operator to record version 2 as ready",
    )  # fmt: skip
    assert pinned(cluster.deployment(namespace, NAME)) == new_uri
    assert sorted(c["kind"] for c in cluster.children(namespace)) == ["Deployment", "Service"]
    assert condition(cluster.model(namespace, NAME), "Degraded").get("status") != "True"
