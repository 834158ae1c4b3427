"""The PodDisruptionBudget that keeps a drain or node upgrade from emptying the Service."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render.labels import selector_labels, standard_labels
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.spec import SentimentModelSpec


def wants_disruption_budget(spec: SentimentModelSpec) -> bool:
    """Whether more than one replica may serve: with one, a budget would only block drains."""
    if spec.autoscaling.enabled:
        return spec.autoscaling.max_replicas > 1
    return spec.server.replicas > 1


def render_disruption_budget(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """Voluntary evictions take the pods one at a time (whatever the replica count)."""
    del spec  # the budget is the same for every count; the switch is wants_disruption_budget
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(owner, standard_labels(owner.name)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(owner.name)},
            # A pod that never got ready (a model that does not load) may always be evicted.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
