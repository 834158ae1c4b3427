"""Promotion in MLflow rolls out, within one poll interval, at one query per interval."""

from __future__ import annotations

import functools
import math
import re
import time
from typing import Any

import pytest

from tests.operator_integration.harness import (
    POLL_SECONDS,
    Cluster,
    ModelRegistry,
    model_spec,
    pinned,
    wait_for,
)
from tests.support.mlflow_server import MlflowServer

pytestmark = pytest.mark.integration

NAME = "reviews"
# One poll interval, plus time for the reconcile and the API round trips.
WITHIN_ONE_INTERVAL = POLL_SECONDS + 10


def pinned_to(cluster: Cluster, namespace: str, name: str, uri: str) -> dict[str, Any] | None:
    deployment = cluster.deployment(namespace, name)
    return deployment if pinned(deployment) == uri else None


def test_stage_promotion_repins_the_deployment_and_says_so(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.promote(model_name, models.add_version(model_name))
    second = models.add_version(model_name)
    cluster.create_model(namespace, NAME, model_spec(models.url, model_name))
    wait_for(
        lambda: pinned_to(cluster, namespace, NAME, f"models:/{model_name}/1"), timeout=60,
        what="the Deployment pinned to version 1",
    )  # fmt: skip
    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: cluster.status(namespace, NAME).get("lastReadyVersion"),
        timeout=30, what="version 1 to be reported ready",
    )  # fmt: skip

    models.promote(model_name, second)

    deployment = wait_for(
        lambda: pinned_to(cluster, namespace, NAME, f"models:/{model_name}/2"),
        timeout=WITHIN_ONE_INTERVAL, what="the Deployment re-pinned to version 2",
    )  # fmt: skip
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "2"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    promoted = wait_for(
        lambda: [e for e in cluster.events(namespace, NAME) if e["reason"] == "Promoted"],
        timeout=15, what="a Promoted event",
    )  # fmt: skip
    assert "v1 → v2" in promoted[0]["message"]
    status = cluster.status(namespace, NAME)
    assert (status["resolvedVersion"], status["modelUri"]) == ("2", f"models:/{model_name}/2")
    assert status["lastReadyVersion"] == "1"  # version 2 is not ready yet

    cluster.wait_rolled_out(namespace, NAME)
    wait_for(
        lambda: cluster.status(namespace, NAME).get("lastReadyVersion") == "2",
        timeout=30, what="version 2 to be reported ready",
    )  # fmt: skip


def test_alias_promotion_repins_the_deployment(
    cluster: Cluster, models: ModelRegistry, namespace: str, model_name: str
) -> None:
    models.set_alias(model_name, "champion", models.add_version(model_name))
    second = models.add_version(model_name)
    spec = model_spec(models.url, model_name, alias="champion")
    cluster.create_model(namespace, NAME, spec)
    wait_for(
        lambda: pinned_to(cluster, namespace, NAME, f"models:/{model_name}/1"), timeout=60,
        what="the Deployment pinned to the champion, version 1",
    )  # fmt: skip

    models.set_alias(model_name, "champion", second)

    wait_for(
        lambda: pinned_to(cluster, namespace, NAME, f"models:/{model_name}/2"),
        timeout=WITHIN_ONE_INTERVAL, what="the Deployment re-pinned to the new champion",
    )  # fmt: skip
    wait_for(
        lambda: any("v1 → v2" in e["message"] for e in cluster.events(namespace, NAME)),
        timeout=15, what="an event saying v1 → v2",
    )  # fmt: skip


def test_resources_on_the_same_model_share_one_registry_query(
    cluster: Cluster,
    models: ModelRegistry,
    shared_mlflow: MlflowServer,
    namespace: str,
    model_name: str,
) -> None:
    count = 8
    models.set_alias(model_name, "champion", models.add_version(model_name))
    second = models.add_version(model_name)
    names = [f"{NAME}-{index}" for index in range(count)]
    for name in names:
        cluster.create_model(namespace, name, model_spec(models.url, model_name, alias="champion"))
    for name in names:
        wait_for(
            functools.partial(pinned_to, cluster, namespace, name, f"models:/{model_name}/1"),
            timeout=60, what=f"{name} pinned to version 1",
        )  # fmt: skip
    # Each alias lookup is one access-log line naming the model, and the operator is the
    # only one looking this model up.
    lookup = re.compile(rf"GET /api/2\.0/mlflow/registered-models/alias\?name={model_name}&")

    def lookups() -> list[str]:
        lines = shared_mlflow.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if lookup.search(line)]

    start, before = time.time(), len(lookups())
    models.set_alias(model_name, "champion", second)
    for name in names:
        wait_for(
            functools.partial(pinned_to, cluster, namespace, name, f"models:/{model_name}/2"),
            timeout=WITHIN_ONE_INTERVAL, what=f"{name} re-pinned to version 2",
        )  # fmt: skip
    asked, end = lookups()[before:], time.time()

    # Polls fall on multiples of the interval; one may have been under way at the start.
    polls = math.floor(end / POLL_SECONDS) - math.floor(start / POLL_SECONDS) + 1
    assert polls < count, f"the window spans {polls} polls: too long to tell"
    assert 1 <= len(asked) <= polls, f"{count} resources, {polls} polls, queries: {asked}"
