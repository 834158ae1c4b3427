"""KEDA autoscaling: the ScaledObject and the PredictKube TriggerAuthentication.

While a ScaledObject exists, KEDA's HPA owns the Deployment's replica count, which is
why the Deployment renderer leaves ``replicas`` out when autoscaling is on.
"""

from __future__ import annotations

from typing import Any

from sentiment_operator.render import queries
from sentiment_operator.render.kinds import DEPLOYMENT, SCALED_OBJECT, TRIGGER_AUTHENTICATION
from sentiment_operator.render.labels import standard_labels
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.spec import SentimentModelSpec

REACTIVE_TRIGGER = "prediction-rate"
FORECAST_TRIGGER = "prediction-forecast"
# The authentication parameter the PredictKube scaler reads its API key from.
PREDICTKUBE_API_KEY_PARAMETER = "apiKey"


def trigger_window(spec: SentimentModelSpec) -> str:
    """The ``rate()`` range of the default trigger queries, from the scrape interval."""
    return queries.rate_window(spec.monitoring.interval)


def _reactive_trigger(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    prometheus = spec.autoscaling.prometheus
    scope = queries.Scope(owner.namespace, owner.name)
    return {
        "type": "prometheus",
        "name": REACTIVE_TRIGGER,
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": prometheus.server_address,
            "query": queries.reactive_trigger_query(scope, spec.autoscaling, trigger_window(spec)),
            "threshold": prometheus.threshold,
            "activationThreshold": prometheus.activation_threshold,
        },
    }


def _forecast_trigger(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    predictkube = spec.autoscaling.predictkube
    scope = queries.Scope(owner.namespace, owner.name)
    return {
        "type": "predictkube",
        "name": FORECAST_TRIGGER,
        "metricType": "AverageValue",
        "metadata": {
            "predictHorizon": predictkube.predict_horizon,
            "historyTimeWindow": predictkube.history_time_window,
            "prometheusAddress": spec.autoscaling.prometheus.server_address,
            "query": queries.forecast_trigger_query(scope, spec.autoscaling, trigger_window(spec)),
            "queryStep": predictkube.query_step,
            "threshold": predictkube.threshold,
            "activationThreshold": predictkube.activation_threshold,
        },
        "authenticationRef": {"name": owner.name},
    }


def render_scaled_object(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """Scale the model's Deployment on its prediction rate (and its forecast, if enabled)."""
    autoscaling = spec.autoscaling
    triggers = [_reactive_trigger(owner, spec)]
    if autoscaling.predictkube.enabled:
        triggers.append(_forecast_trigger(owner, spec))
    return {
        "apiVersion": SCALED_OBJECT.api_version,
        "kind": SCALED_OBJECT.kind,
        "metadata": child_metadata(owner, standard_labels(owner.name)),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": DEPLOYMENT.api_version,
                "kind": DEPLOYMENT.kind,
                "name": owner.name,
            },
            "pollingInterval": autoscaling.polling_interval,
            "cooldownPeriod": autoscaling.cooldown_period,
            "minReplicaCount": autoscaling.min_replicas,
            "maxReplicaCount": autoscaling.max_replicas,
            "triggers": triggers,
        },
    }


def render_trigger_authentication(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """Point KEDA at the Secret key holding the PredictKube API key (never the key itself)."""
    secret = spec.autoscaling.predictkube.api_key_secret
    return {
        "apiVersion": TRIGGER_AUTHENTICATION.api_version,
        "kind": TRIGGER_AUTHENTICATION.kind,
        "metadata": child_metadata(owner, standard_labels(owner.name)),
        "spec": {
            "secretTargetRef": [
                {
                    "parameter": PREDICTKUBE_API_KEY_PARAMETER,
                    "name": secret.name,
                    "key": secret.key,
                }
            ]
        },
    }
