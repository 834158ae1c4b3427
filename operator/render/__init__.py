"""Pure renderers: a SentimentModel spec and a resolved version in, child objects out."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render.deployment import model_uri, render_deployment
from sentiment_operator.render.owner import Owner
from sentiment_operator.render.service import render_service, service_url
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import SentimentModelSpec

__all__ = [
    "Owner",
    "model_uri",
    "render_children",
    "render_deployment",
    "render_service",
    "service_url",
]


def render_children(
    owner: Owner, spec: SentimentModelSpec, version: str, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """Every child object of a SentimentModel serving ``version``, in apply order."""
    # ServiceMonitor, ScaledObject, TriggerAuthentication, the dashboard ConfigMap and the
    # Istio objects join this list, each from its own module, when their switches are on.
    return [
        render_deployment(owner, spec, version, settings),
        render_service(owner, spec, settings),
    ]
