"""Pure renderers: a SentimentModel spec and a resolved version in, child objects out."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render.dashboard import render_dashboard
from sentiment_operator.render.deployment import model_uri, render_deployment
from sentiment_operator.render.disruption import render_disruption_budget, wants_disruption_budget
from sentiment_operator.render.kinds import (
    CHILD_KINDS,
    ChildKind,
    optional_kinds,
    partition_by_crd,
)
from sentiment_operator.render.owner import Owner
from sentiment_operator.render.scaledobject import (
    render_scaled_object,
    render_trigger_authentication,
)
from sentiment_operator.render.service import render_service, service_url
from sentiment_operator.render.servicemonitor import render_service_monitor
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import SentimentModelSpec

__all__ = [
    "CHILD_KINDS",
    "ChildKind",
    "Owner",
    "model_uri",
    "optional_kinds",
    "partition_by_crd",
    "render_children",
    "render_dashboard",
    "render_deployment",
    "render_disruption_budget",
    "render_scaled_object",
    "render_service",
    "render_service_monitor",
    "render_trigger_authentication",
    "service_url",
]


def render_children(
    owner: Owner, spec: SentimentModelSpec, version: str, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """Every child object of a SentimentModel serving ``version``, in apply order.

    The optional children follow their switches; whether the cluster serves their kinds
    is the caller's question (``kinds.partition_by_crd``).
    """
    children = [
        render_deployment(owner, spec, version, settings),
        render_service(owner, spec, settings),
    ]
    if wants_disruption_budget(spec):
        children.append(render_disruption_budget(owner, spec))
    if spec.monitoring.enabled:
        children.append(render_service_monitor(owner, spec))
    if spec.autoscaling.enabled:
        if spec.autoscaling.predictkube.enabled:
            children.append(render_trigger_authentication(owner, spec))
        children.append(render_scaled_object(owner, spec))
    if spec.monitoring.dashboard:
        children.append(render_dashboard(owner, spec))
    return children
