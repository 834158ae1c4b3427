"""The pure decisions of a reconcile: rollout health, the pin, the status and its Events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sentiment_operator.render.labels import MODEL_VERSION_ANNOTATION
from sentiment_operator.status import (
    Observation,
    Rollout,
    build_status,
    choose_pin,
    events_between,
    pinned_version,
    rollout_of,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 1, 2, 4, 0, 0, tzinfo=UTC)


def deployment(
    version: str, *, generation: int = 2, replicas: int = 2, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"annotations": {MODEL_VERSION_ANNOTATION: version}}},
        },
        "status": status,
    }


def deadline_exceeded() -> list[dict[str, str]]:
    return [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]


def test_a_fully_updated_and_available_deployment_is_complete() -> None:
    rollout = rollout_of(
        deployment(
            "3", observedGeneration=2, replicas=2, updatedReplicas=2, availableReplicas=2,
            readyReplicas=2,
        )
    )  # fmt: skip
    assert rollout is not None
    assert (rollout.version, rollout.complete, rollout.failed) == ("3", True, False)
    assert rollout.ready_replicas == 2


@pytest.mark.parametrize(
    "status",
    [
        # The controller has not seen the new template yet: old counts say nothing.
        {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
        # Old pods still running next to the new ones.
        {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3},
        # New pods not available yet.
        {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
        # All new pods available, an old one still terminating (and maybe serving).
        {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "terminatingReplicas": 1,
        },
    ],
)
def test_a_deployment_still_rolling_out_is_neither_complete_nor_failed(
    status: dict[str, Any],
) -> None:
    rollout = rollout_of(deployment("3", **status))
    assert rollout is not None
    assert (rollout.complete, rollout.failed) == (False, False)


def test_a_missed_progress_deadline_counts_only_for_the_observed_template() -> None:
    failed = rollout_of(deployment("3", observedGeneration=2, conditions=deadline_exceeded()))
    stale = rollout_of(deployment("3", observedGeneration=1, conditions=deadline_exceeded()))
    assert failed is not None
    assert (failed.failed, failed.complete) == (True, False)
    assert stale is not None
    assert not stale.failed


def test_no_deployment_has_no_rollout() -> None:
    assert rollout_of(None) is None


@pytest.mark.parametrize(
    ("resolved", "failed", "last_ready", "previous", "expected"),
    [
        ("2", None, "1", "1", "2"),  # a promotion
        ("2", "2", "1", "1", "1"),  # the promoted version failed: keep the ready one
        ("2", "2", None, "2", "2"),  # nothing to roll back to
        ("3", "2", "1", "1", "3"),  # the stage moved on: try the new version
        (None, None, "1", "2", "2"),  # registry down: keep the current pin
        (None, None, None, None, None),  # never resolved: nothing to deploy
    ],
)
def test_the_pin(
    resolved: str | None,
    failed: str | None,
    last_ready: str | None,
    previous: str | None,
    expected: str | None,
) -> None:
    assert choose_pin(resolved, failed, last_ready, previous) == expected


def test_the_previous_pin_is_read_only_for_the_same_model() -> None:
    status = {"modelUri": "models:/reviews/4"}
    assert pinned_version(status, "reviews") == "4"
    assert pinned_version(status, "other") is None
    assert pinned_version({}, "reviews") is None


def serving(version: str) -> Rollout:
    return Rollout(version, complete=True, failed=False, ready_replicas=2, detail="")


def observed(**fields: Any) -> Observation:
    defaults: dict[str, Any] = {
        "generation": 1,
        "selector": "stage Production",
        "resolved": "1",
        "model_uri": "models:/reviews/1",
        "rollout": serving("1"),
        "last_ready": "1",
        "deadline_seconds": 300,
        "url": "http://reviews.ns.svc.cluster.local:80",
    }
    return Observation(**{**defaults, **fields})


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_served_version_is_ready_and_resolved() -> None:
    status = build_status({}, observed(), NOW)
    assert conditions(status) == {
        "Ready": ("True", "Serving"),
        "ModelResolved": ("True", "Resolved"),
        "Progressing": ("False", "RolloutComplete"),
        "Degraded": ("False", "AsExpected"),
    }
    assert status["resolvedVersion"] == "1"
    assert status["modelUri"] == "models:/reviews/1"
    assert status["observedGeneration"] == 1
    assert status["readyReplicas"] == 2


def test_unchanged_conditions_keep_their_transition_time() -> None:
    first = build_status({}, observed(), NOW)
    second = build_status(first, observed(), LATER)
    assert second == first


def test_a_promotion_is_announced_from_old_to_new_version() -> None:
    before = build_status({}, observed(), NOW)
    rolling = Rollout("2", complete=False, failed=False, ready_replicas=2, detail="1/2 updated")
    after = build_status(before, observed(resolved="2", rollout=rolling), LATER)
    events = events_between(before, after, model="reviews", selector="stage Production")
    assert [(e.reason, e.message) for e in events] == [
        ("Promoted", "reviews stage Production: v1 → v2")
    ]
    assert conditions(after)["Progressing"] == ("True", "RollingOut")


def test_a_rolled_back_version_is_degraded_but_serving() -> None:
    status = build_status({}, observed(resolved="2", failed="2", last_ready="1"), NOW)
    assert conditions(status)["Degraded"] == ("True", "ProgressDeadlineExceeded")
    assert conditions(status)["Ready"] == ("True", "Serving")
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["message"] == "v2 did not become ready within 300s; rolled back to v1"
    assert status["failedVersion"] == "2"


def test_a_registry_fault_is_reported_once_and_keeps_the_last_answer() -> None:
    healthy = build_status({}, observed(), NOW)
    fault = ("RegistryUnavailable", "the registry at http://mlflow is unavailable")
    down = build_status(healthy, observed(resolved=None, resolve_error=fault), LATER)
    assert conditions(down)["ModelResolved"] == ("False", "RegistryUnavailable")
    assert conditions(down)["Ready"] == ("True", "Serving")
    assert down["resolvedVersion"] == "1"
    events = events_between(healthy, down, model="reviews", selector="stage Production")
    assert [(e.type, e.reason) for e in events] == [("Warning", "RegistryUnavailable")]
    still_down = build_status(down, observed(resolved=None, resolve_error=fault), LATER)
    assert events_between(down, still_down, model="reviews", selector="stage Production") == []


def test_an_invalid_spec_is_reported_without_touching_the_other_fields() -> None:
    healthy = build_status({}, observed(), NOW)
    invalid = build_status(healthy, Observation(generation=2, spec_error="spec.model: bad"), LATER)
    assert conditions(invalid)["Ready"] == ("False", "InvalidSpec")
    assert conditions(invalid)["Degraded"] == ("True", "InvalidSpec")
    assert invalid["modelUri"] == healthy["modelUri"]
    assert invalid["observedGeneration"] == 2
    events = events_between(healthy, invalid, model="", selector="")
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Warning", "InvalidSpec", "spec.model: bad")
    ]
