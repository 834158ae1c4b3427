"""One reconcile of one SentimentModel: read it, resolve, pin, apply children, report.

Every trigger (creation, spec change, operator restart, registry poll, a child changed
or deleted by hand) runs the same level-triggered pass over the resource as it is
now in the API. The pass is synchronous (the API and registry calls are);
the kopf handlers run it in worker threads, one at a time per resource.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sentiment_operator.children import (
    Applied,
    ChildApplier,
    ChildConflict,
    ChildOwner,
    ChildRefused,
)
from sentiment_operator.discovery import Discovery
from sentiment_operator.kube import KubeApi, ObjectRef
from sentiment_operator.registry import (
    CREDENTIAL_KEYS,
    PASSWORD_KEY,
    USERNAME_KEY,
    ModelQuery,
    RegistryError,
    VersionCache,
    credentials_id,
    selector_text,
)
from sentiment_operator.render import (
    CHILD_KINDS,
    ChildKind,
    Owner,
    model_uri,
    partition_by_crd,
    render_children,
    service_url,
)
from sentiment_operator.render.kinds import Resource
from sentiment_operator.render.labels import owned_selector
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import API_VERSION, KIND, SentimentModelSpec, SpecError, parse_spec
from sentiment_operator.status import (
    NORMAL,
    WARNING,
    Event,
    Observation,
    build_status,
    choose_pin,
    events_between,
    pinned_version,
    rollout_of,
    v,
)

logger = logging.getLogger(__name__)


class CredentialsMissing(Exception):  # noqa: N818 - named after the reason it reports
    """The Secret named by ``spec.registry.credentialsSecret`` is absent or unusable."""

    reason = "CredentialsMissing"


@dataclass
class Outcome:
    """What a reconcile did: Events to post on ``body`` and whether to retry."""

    body: dict[str, Any] | None
    events: list[Event] = field(default_factory=list)
    retry: str | None = None  # why a retry with backoff is due; None when settled


class Reconciler:
    """Reconciles SentimentModels through a :class:`KubeApi` and a shared version cache."""

    def __init__(
        self,
        api: KubeApi,
        cache: VersionCache,
        settings: OperatorSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        discovery: Discovery | None = None,
    ) -> None:
        self.api = api
        self.cache = cache
        self.settings = settings
        self._clock = clock
        self.discovery = discovery or Discovery(api)
        self.children = ChildApplier(api)

    def reconcile(self, namespace: str, name: str, *, max_age: float | None = None) -> Outcome:
        """Bring one resource and its children in line.

        ``max_age`` bounds how old a cached registry answer may be; by default the
        resource's own poll interval, the staleness its owner agreed to.
        """
        body = self.api.get(ObjectRef(API_VERSION, KIND, namespace, name))
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.children.forget(namespace, name)
            return Outcome(body=None)  # gone or going: its children go with it
        previous: dict[str, Any] = dict(body.get("status") or {})
        generation = body["metadata"].get("generation")
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError as error:
            # Permanent until the spec changes: report it, touch nothing, do not retry.
            observation = Observation(generation=generation, spec_error=str(error))
            return self._report(body, previous, observation, [], model="", selector="")
        return self._reconcile_valid(body, spec, previous, max_age=max_age)

    def _reconcile_valid(
        self,
        body: dict[str, Any],
        spec: SentimentModelSpec,
        previous: dict[str, Any],
        *,
        max_age: float | None,
    ) -> Outcome:
        owner = Owner.from_object(body)
        generation = body["metadata"].get("generation")
        selector = selector_text(spec.model.stage, spec.model.alias)
        if max_age is None:
            max_age = float(spec.registry.poll_interval_seconds)
        resolved, resolve_error = self._resolve(spec, owner.namespace, max_age=max_age)
        # A failed version stays rolled back while the registry keeps pointing at it and
        # the spec is unchanged; a new version or a new spec earns a new attempt.
        same_spec = previous.get("observedGeneration") == generation
        failed = previous.get("failedVersion") if same_spec else None
        if resolved is not None and resolved != failed:
            failed = None
        last_ready = previous.get("lastReadyVersion")
        pin = choose_pin(resolved, failed, last_ready, pinned_version(previous, spec.model.name))

        events: list[Event] = []
        deployment: dict[str, Any] | None = None
        apply_error: tuple[str, str] | None = None
        unavailable: dict[str, str] | None = None
        if pin is not None:
            served = self.discovery.served_child_kinds()
            # Which kinds are missing does not depend on the version a rollback may pin.
            _, missing = partition_by_crd(render_children(owner, spec, pin, self.settings), served)
            unavailable = unavailable_features(missing)
            try:
                deployment, pin, failed = self._deploy(
                    owner, spec, pin, failed, last_ready, served, events
                )
            except (ChildConflict, ChildRefused) as error:
                apply_error = (error.reason, str(error))
        rollout = rollout_of(deployment)
        if rollout is not None and rollout.complete and rollout.version is not None:
            last_ready = rollout.version
            failed = None if failed == last_ready else failed

        observation = Observation(
            generation=generation,
            selector=selector,
            resolved=resolved,
            resolve_error=resolve_error,
            apply_error=apply_error,
            model_uri=model_uri(spec.model.name, pin) if pin is not None else None,
            rollout=rollout,
            failed=failed,
            last_ready=last_ready,
            deadline_seconds=spec.rollout.progress_deadline_seconds,
            url=service_url(owner, spec, self.settings),
            unavailable=unavailable,
        )
        outcome = self._report(
            body, previous, observation, events, model=spec.model.name, selector=selector
        )
        fault = resolve_error or apply_error
        if fault is not None:
            outcome.retry = f"{fault[0]}: {fault[1]}"
        return outcome

    def _resolve(
        self, spec: SentimentModelSpec, namespace: str, *, max_age: float
    ) -> tuple[str | None, tuple[str, str] | None]:
        """The version behind the stage or alias, or (None, (reason, message))."""
        try:
            credentials = self._credentials(spec, namespace)
            query = ModelQuery(
                tracking_uri=spec.registry.tracking_uri,
                model_name=spec.model.name,
                stage=spec.model.stage,
                alias=spec.model.alias,
                credentials_id=credentials_id(credentials),
            )
            return self.cache.resolve(query, credentials, max_age=max_age), None
        except (RegistryError, CredentialsMissing) as error:
            return None, (error.reason, str(error))

    def _credentials(self, spec: SentimentModelSpec, namespace: str) -> dict[str, str] | None:
        name = spec.registry.credentials_secret
        if name is None:
            return None
        data = self.api.read_secret(namespace, name)
        if data is None:
            raise CredentialsMissing(f"Secret {namespace}/{name} does not exist")
        credentials = {key: data[key] for key in CREDENTIAL_KEYS if data.get(key)}
        if not credentials:
            raise CredentialsMissing(
                f"Secret {namespace}/{name} has none of the keys {', '.join(CREDENTIAL_KEYS)}"
            )
        if (USERNAME_KEY in credentials) != (PASSWORD_KEY in credentials):
            raise CredentialsMissing(
                f"Secret {namespace}/{name} must hold both {USERNAME_KEY} and {PASSWORD_KEY}"
            )
        return credentials

    def _deploy(
        self,
        owner: Owner,
        spec: SentimentModelSpec,
        pin: str,
        failed: str | None,
        last_ready: str | None,
        served: frozenset[Resource],
        events: list[Event],
    ) -> tuple[dict[str, Any] | None, str, str | None]:
        """Apply the children pinned to ``pin``; roll back a version past its deadline.

        Returns the live Deployment, the version pinned now and the failed version.
        """
        deployment = _deployment(self._apply(owner, spec, pin, served, events))
        rollout = rollout_of(deployment)
        if rollout is None or not rollout.failed or rollout.version in (None, last_ready):
            return deployment, pin, failed
        failed = rollout.version
        if last_ready is None:
            return deployment, pin, failed  # no earlier version to go back to
        deadline = spec.rollout.progress_deadline_seconds
        message = (
            f"{v(failed)} → {v(last_ready)}: {v(failed)} did not become ready within {deadline}s"
        )
        events.append(Event(WARNING, "RolledBack", message))
        applied = self._apply(owner, spec, last_ready, served, events)
        return _deployment(applied), last_ready, failed

    def _apply(
        self,
        owner: Owner,
        spec: SentimentModelSpec,
        version: str,
        served: frozenset[Resource],
        events: list[Event],
    ) -> Applied:
        """Apply the children the cluster can take; delete owned ones no longer desired."""
        desired, _ = partition_by_crd(render_children(owner, spec, version, self.settings), served)
        applied = self.children.apply(
            ChildOwner(owner.namespace, owner.name, owner.uid, owned_selector(owner.name)),
            desired,
            prunable=[
                (kind.api_version, kind.kind) for kind in CHILD_KINDS if kind.resource in served
            ],
        )
        for verb, refs in (
            ("Created", applied.created),
            ("Updated", applied.updated),
            ("Deleted", applied.deleted),
        ):
            if refs:
                names = ", ".join(f"{ref.kind} {ref.name}" for ref in refs)
                events.append(Event(NORMAL, verb, names))
        return applied

    def _report(
        self,
        body: dict[str, Any],
        previous: dict[str, Any],
        observation: Observation,
        events: list[Event],
        *,
        model: str,
        selector: str,
    ) -> Outcome:
        status = build_status(previous, observation, self._clock())
        events = events + events_between(previous, status, model=model, selector=selector)
        if _present(status) != _present(previous):
            ref = ObjectRef.of(body)
            body = self.api.patch(ref, {"status": status}, subresource="status")
        return Outcome(body=body, events=events)


def unavailable_features(missing: list[ChildKind]) -> dict[str, str]:
    """Condition type → message, for each feature some of whose kinds the cluster lacks."""
    by_condition: dict[str, list[ChildKind]] = {}
    for kind in missing:
        if kind.unavailable_condition is not None:
            by_condition.setdefault(kind.unavailable_condition, []).append(kind)
    return {
        condition: (
            f"the cluster does not serve {', '.join(str(k.crd_name) for k in kinds)}; "
            f"skipped {', '.join(k.kind for k in kinds)} until the CRD is installed"
        )
        for condition, kinds in by_condition.items()
    }


def _present(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _deployment(applied: Applied) -> dict[str, Any] | None:
    return next((obj for (kind, _), obj in applied.live.items() if kind == "Deployment"), None)
