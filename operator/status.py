"""Pure decisions of a reconcile: how a rollout is doing, what to pin, what to report.

Nothing here talks to a server: the reconciler gathers an :class:`Observation`, and
these functions turn it into the resource's ``status`` and the Events that tell a
human what changed. Events are derived from the difference between the previous and
the new status, so a restarted operator does not repeat them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentiment_operator.render.kinds import optional_kinds
from sentiment_operator.render.labels import MODEL_VERSION_ANNOTATION
from sentiment_operator.status_model import ConditionStatus, set_condition

# The Deployment controller's reason for a rollout that missed its progress deadline.
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
INVALID_SPEC = "InvalidSpec"
# Ready=False reasons that mean the children could not be applied.
APPLY_FAULTS = frozenset({"ChildConflict"})
NORMAL = "Normal"
WARNING = "Warning"
#: One condition per optional integration: True while the cluster lacks its CRD.
UNAVAILABLE_CONDITIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        kind.unavailable_condition for kind in optional_kinds() if kind.unavailable_condition
    )
)
CRD_MISSING = "CRDNotInstalled"


def v(version: str | None) -> str:
    """A version as people read it in events and messages: ``v3``."""
    return f"v{version}" if version is not None else "none"


@dataclass(frozen=True)
class Rollout:
    """How the live Deployment is doing with its current pod template."""

    version: str | None
    complete: bool
    failed: bool
    ready_replicas: int
    detail: str


def rollout_of(deployment: Mapping[str, Any] | None) -> Rollout | None:
    """Judge a Deployment the way ``kubectl rollout status`` does, and wait until no old pod
    is left terminating; None when it is absent.

    The status only counts once the controller has observed the current generation:
    a template just re-pinned by the operator is neither complete nor failed yet.
    """
    if deployment is None:
        return None
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template_annotations = (spec.get("template") or {}).get("metadata", {}).get("annotations")
    version = (template_annotations or {}).get(MODEL_VERSION_ANNOTATION)
    wanted = int(spec.get("replicas", 1))
    total = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    # Pods of the old template still shutting down (and perhaps serving their last
    # requests); the controller reports them since Kubernetes 1.33.
    terminating = int(status.get("terminatingReplicas") or 0)
    generation = metadata.get("generation")
    observed_generation = status.get("observedGeneration")
    observed = (
        generation is not None
        and observed_generation is not None
        and int(observed_generation) >= int(generation)
    )
    progressing: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    failed = observed and progressing.get("reason") == DEADLINE_EXCEEDED
    complete = (
        observed
        and not failed
        and updated >= wanted
        and total <= updated
        and available >= updated
        and terminating == 0
    )
    if failed:
        detail = progressing.get("message") or "the rollout exceeded its progress deadline"
    elif not observed:
        detail = "waiting for the Deployment controller to observe the new template"
    else:
        detail = f"{updated}/{wanted} replicas updated, {available} available"
        if terminating:
            detail += f", {terminating} old still terminating"
    return Rollout(version, complete, failed, ready, detail)


def pinned_version(status: Mapping[str, Any], model_name: str) -> str | None:
    """The version the previous reconcile pinned for ``model_name`` (from ``modelUri``)."""
    uri = status.get("modelUri") or ""
    prefix = f"models:/{model_name}/"
    return uri.removeprefix(prefix) if uri.startswith(prefix) else None


def choose_pin(
    resolved: str | None, failed: str | None, last_ready: str | None, previous: str | None
) -> str | None:
    """The version to deploy.

    The resolved one, unless it already failed to roll out and an earlier version was
    ready: then that one stays pinned until the stage or alias moves on. Without an
    answer from the registry, the previous pin stays.
    """
    if resolved is None:
        return previous
    if resolved == failed and last_ready is not None:
        return last_ready
    return resolved


@dataclass(frozen=True)
class Event:
    """An Event to post on the resource."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Observation:
    """Everything a reconcile learnt, for :func:`build_status`."""

    generation: int | None
    selector: str = ""
    spec_error: str | None = None
    resolved: str | None = None
    resolve_error: tuple[str, str] | None = None  # (reason, message)
    apply_error: tuple[str, str] | None = None  # (reason, message)
    model_uri: str | None = None
    rollout: Rollout | None = None
    failed: str | None = None
    last_ready: str | None = None
    deadline_seconds: int | None = None
    url: str | None = None
    # Condition type → message per integration whose CRD is missing; None when the
    # children were not applied (nothing learnt: the previous conditions stand).
    unavailable: Mapping[str, str] | None = None


Entry = tuple[str, ConditionStatus, str, str]  # type, status, reason, message
CONDITION_ORDER = ("Ready", "ModelResolved", "Progressing", "Degraded", *UNAVAILABLE_CONDITIONS)


def _resolved(o: Observation) -> Entry:
    if o.resolve_error is not None:
        return ("ModelResolved", "False", *o.resolve_error)
    return ("ModelResolved", "True", "Resolved", f"{o.selector} → {v(o.resolved)}")


def _progressing(rollout: Rollout | None) -> Entry:
    if rollout is None:
        return ("Progressing", "False", "NoDeployment", "nothing is deployed yet")
    if rollout.failed:
        return ("Progressing", "False", DEADLINE_EXCEEDED, rollout.detail)
    if rollout.complete:
        return ("Progressing", "False", "RolloutComplete", f"{v(rollout.version)} is rolled out")
    return ("Progressing", "True", "RollingOut", f"{v(rollout.version)}: {rollout.detail}")


def _degraded(o: Observation) -> Entry:
    deadline = f"within {o.deadline_seconds}s" if o.deadline_seconds else "in time"
    if o.failed is not None and o.last_ready is not None and o.failed != o.last_ready:
        message = f"{v(o.failed)} did not become ready {deadline}; rolled back to {v(o.last_ready)}"
        return ("Degraded", "True", DEADLINE_EXCEEDED, message)
    if o.rollout is not None and o.rollout.failed:
        message = f"{v(o.rollout.version)} did not become ready {deadline}"
        if o.last_ready is None:
            message += "; no earlier version was ready to roll back to"
        return ("Degraded", "True", DEADLINE_EXCEEDED, message)
    return ("Degraded", "False", "AsExpected", "serving the requested version")


def _ready(o: Observation) -> Entry:
    rollout = o.rollout
    if o.apply_error is not None:
        return ("Ready", "False", *o.apply_error)
    if rollout is None:
        return ("Ready", "False", *(o.resolve_error or ("NoDeployment", "nothing is deployed")))
    if rollout.complete:
        message = f"{v(rollout.version)} is serving, {rollout.ready_replicas} ready replicas"
        return ("Ready", "True", "Serving", message)
    if rollout.failed:
        return ("Ready", "False", DEADLINE_EXCEEDED, rollout.detail)
    return ("Ready", "False", "RollingOut", f"{v(rollout.version)} is rolling out")


def _unavailable(unavailable: Mapping[str, str] | None) -> list[Entry]:
    if unavailable is None:
        return []
    return [
        (type_, "True", CRD_MISSING, unavailable[type_])
        if type_ in unavailable
        else (type_, "False", "AsExpected", "the cluster serves every kind this feature needs")
        for type_ in UNAVAILABLE_CONDITIONS
    ]


def _conditions(
    o: Observation, previous: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    entries: list[Entry]
    if o.spec_error is not None:
        entries = [
            ("Ready", "False", INVALID_SPEC, o.spec_error),
            ("ModelResolved", "Unknown", INVALID_SPEC, "the spec is invalid"),
            ("Progressing", "False", INVALID_SPEC, "the spec is invalid"),
            ("Degraded", "True", INVALID_SPEC, o.spec_error),
        ]
    else:
        entries = [_ready(o), _resolved(o), _progressing(o.rollout), _degraded(o)]
        entries += _unavailable(o.unavailable)
    conditions = [dict(c) for c in previous]
    for type_, status, reason, message in entries:
        conditions = set_condition(conditions, type_, status, reason, message, now, o.generation)
    rank = {type_: index for index, type_ in enumerate(CONDITION_ORDER)}
    return sorted(conditions, key=lambda c: rank.get(c["type"], len(rank)))


def build_status(
    previous: Mapping[str, Any], observation: Observation, now: datetime
) -> dict[str, Any]:
    """The new ``status``: the fields this operator owns, every one of them present.

    A field that no longer applies is None, so that a merge patch removes it.
    """
    o = observation
    status = dict(previous)
    status["conditions"] = _conditions(o, previous.get("conditions") or [], now)
    status["observedGeneration"] = o.generation
    if o.spec_error is None:
        status["resolvedVersion"] = o.resolved or previous.get("resolvedVersion")
        status["modelUri"] = o.model_uri
        status["lastReadyVersion"] = o.last_ready
        status["failedVersion"] = o.failed
        status["readyReplicas"] = o.rollout.ready_replicas if o.rollout is not None else 0
        status["url"] = o.url
    return status


def _condition_of(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return any(old.get(key) != new.get(key) for key in ("status", "reason", "message"))


def events_between(
    previous: Mapping[str, Any], current: Mapping[str, Any], *, model: str, selector: str
) -> list[Event]:
    """The Events that tell what changed from the ``previous`` to the ``current`` status."""
    events: list[Event] = []
    old_resolved = _condition_of(previous, "ModelResolved")
    new_resolved = _condition_of(current, "ModelResolved")
    if new_resolved.get("status") == "False" and _changed(old_resolved, new_resolved):
        events.append(Event(WARNING, new_resolved["reason"], new_resolved.get("message", "")))
    old_version, new_version = previous.get("resolvedVersion"), current.get("resolvedVersion")
    if new_version is not None and new_version != old_version:
        if old_version is None:
            events.append(Event(NORMAL, "Resolved", f"{model} {selector} → {v(new_version)}"))
        else:
            message = f"{model} {selector}: {v(old_version)} → {v(new_version)}"
            events.append(Event(NORMAL, "Promoted", message))
    elif old_resolved.get("status") == "False" and new_resolved.get("status") == "True":
        events.append(Event(NORMAL, "Resolved", f"{model} {new_resolved.get('message', '')}"))
    old_degraded = _condition_of(previous, "Degraded")
    new_degraded = _condition_of(current, "Degraded")
    if new_degraded.get("status") == "True" and _changed(old_degraded, new_degraded):
        events.append(Event(WARNING, new_degraded["reason"], new_degraded.get("message", "")))
    old_ready = _condition_of(previous, "Ready")
    new_ready = _condition_of(current, "Ready")
    if new_ready.get("reason") in APPLY_FAULTS and _changed(old_ready, new_ready):
        events.append(Event(WARNING, new_ready["reason"], new_ready.get("message", "")))
    for type_ in UNAVAILABLE_CONDITIONS:
        old, new = _condition_of(previous, type_), _condition_of(current, type_)
        if new.get("status") == "True" and _changed(old, new):
            events.append(Event(WARNING, type_, new.get("message", "")))
        elif old.get("status") == "True" and new.get("status") == "False":
            available = type_.removesuffix("Unavailable") + "Available"
            events.append(Event(NORMAL, available, "the missing CRD is installed now"))
    ready = current.get("lastReadyVersion")
    if ready is not None and ready != previous.get("lastReadyVersion"):
        events.append(Event(NORMAL, "RolloutComplete", f"{v(ready)} of {model} is ready"))
    return events
