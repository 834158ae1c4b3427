"""kopf handlers: thin async shells around one synchronous reconcile per resource.

Three triggers, one reconcile (:mod:`sentiment_operator.reconcile`):

* create, update and resume of a SentimentModel: reconcile now; on a fault (registry,
  credentials, API) kopf retries the handler after its backoff (``SENTIMENT_RETRY_SECONDS``);
* a daemon per SentimentModel that re-resolves the stage or alias every
  ``spec.registry.pollIntervalSeconds``. Its ticks fall on multiples of the interval
  on the wall clock, so every resource with the same interval asks at the same moment
  and the shared version cache turns N questions into one registry query. After a
  fault it skips ticks with a doubling backoff. A daemon (rather than a timer) is
  used because its interval follows the live spec;
* an event on any child the operator labels as its own (a rollout's progress, a hand
  edit, a deletion): reconcile the owner, coalescing a burst of events into one pass.

The handlers are registered at import in :data:`registry`, which the runner hands to
kopf; what they share (:class:`~sentiment_operator.runtime.Runtime`) comes in ``memo``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, cast

import kopf
from sentiment_operator import kube
from sentiment_operator.reconcile import Outcome
from sentiment_operator.render.kinds import CHILD_KINDS
from sentiment_operator.render.labels import MANAGED_BY
from sentiment_operator.runtime import Runtime
from sentiment_operator.spec import API_VERSION, GROUP, KIND, PLURAL, VERSION

DEFAULT_POLL_SECONDS = 30
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def poll_interval(spec: Any) -> float:
    """``spec.registry.pollIntervalSeconds`` of a live spec, or the default if unusable."""
    try:
        value = spec.get("registry", {}).get("pollIntervalSeconds", DEFAULT_POLL_SECONDS)
    except AttributeError:
        return DEFAULT_POLL_SECONDS
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_POLL_SECONDS


def seconds_to_next_tick(now: float, interval: float, *, skip: float = 0.0) -> float:
    """Seconds from ``now`` to the first multiple of ``interval`` after ``now + skip``."""
    tick = (math.floor((now + skip) / interval) + 1) * interval
    return tick - now


def post(outcome: Outcome | None, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Post the reconcile's Events on the resource, and log them."""
    if outcome is None or outcome.body is None:
        return
    for event in outcome.events:
        logger.info("%s %s: %s", event.type, event.reason, event.message)
        body = kopf.Body(cast(kopf.RawBody, outcome.body))
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def _owner_name(body: kopf.Body) -> str | None:
    for reference in body.metadata.get("ownerReferences") or []:
        if reference.get("kind") == KIND and reference.get("apiVersion") == API_VERSION:
            name: str | None = reference.get("name")
            return name
    return None


#: Every handler of the operator; ``runner`` passes it to kopf.
registry = kopf.OperatorRegistry()


@kopf.on.login(id="login", registry=registry)
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's own service-account-then-kubeconfig login, the one :class:`KubeApi` uses
    (kopf would prefer a Kubernetes client library where one happens to be installed)."""
    return kube.login(settings)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)
@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)
@kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)
async def reconcile_changed(
    namespace: str | None, name: str, memo: Any, logger: kopf.Logger, **_: Any
) -> None:
    """Created, changed or found at start: reconcile now. An exception (an API fault, a
    bug) is retried by kopf after its backoff; a fault the reconcile reported, too."""
    assert namespace is not None  # SentimentModels are namespaced
    runtime: Runtime = memo.runtime
    outcome = await runtime.reconcile((namespace, name))
    post(outcome, logger)
    if outcome.retry is not None:
        raise kopf.TemporaryError(outcome.retry, delay=runtime.retry_seconds)


@kopf.daemon(GROUP, VERSION, PLURAL, id="poll-registry", registry=registry, cancellation_timeout=10)
async def poll_registry(
    stopped: kopf.DaemonStopped,
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Re-resolve the stage or alias on every tick of the resource's poll interval."""
    assert namespace is not None  # SentimentModels are namespaced
    runtime: Runtime = memo.runtime
    failures = 0
    try:
        while not stopped:
            interval = poll_interval(spec)
            skip = runtime.polls_skipped(failures, interval)
            await stopped.wait(seconds_to_next_tick(time.time(), interval, skip=skip))
            if stopped:
                break
            try:
                # Half an interval: this tick's answer, not the previous tick's.
                outcome = await runtime.reconcile((namespace, name), max_age=interval / 2)
            except Exception:
                failures += 1
                logger.exception("Periodic reconcile failed (%d in a row)", failures)
                continue
            post(outcome, logger)
            failures = failures + 1 if outcome.retry is not None else 0
    finally:
        runtime.forget((namespace, name))


async def child_changed(
    body: kopf.Body, namespace: str | None, memo: Any, logger: kopf.Logger, **_: Any
) -> None:
    """A child changed (a rollout's progress, a hand edit, a deletion): reconcile its owner."""
    owner = _owner_name(body)
    if owner is None or namespace is None:
        return
    runtime: Runtime = memo.runtime
    try:
        outcome = await runtime.nudge((namespace, owner))
    except Exception:  # the owner's next poll repairs whatever this pass missed
        logger.exception("Reconcile of %s %s/%s failed", KIND, namespace, owner)
        return
    post(outcome, logger)


# Every child kind, served or not: kopf skips a resource the cluster lacks with a
# warning and starts watching it when its CRD appears (it watches the CRDs).
for _kind in CHILD_KINDS:
    kopf.on.event(
        *_kind.resource,
        id=f"child-{_kind.plural}",
        labels={MANAGED_BY_LABEL: MANAGED_BY},
        registry=registry,
    )(child_changed)
