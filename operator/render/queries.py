"""Every PromQL expression the operator writes: autoscaler triggers and dashboard panels.

The series are the model server's (``model_server/metrics.py``), as the Prometheus
Operator stores them: each carries the target labels ``namespace`` and ``service``
(the Service is named after the SentimentModel), which scope a query to one resource
so that two models never read each other's traffic.

The server's own ``endpoint`` label (the HTTP route) clashes with the target label
``endpoint`` (the Service port name); with ``honorLabels: false`` Prometheus keeps the
target's and renames the server's to ``exported_endpoint``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sentiment_operator.spec import AutoscalingSpec

REQUESTS = "sentiment_requests_total"
LATENCY_BUCKETS = "sentiment_request_duration_seconds_bucket"
PREDICTIONS = "sentiment_predictions_total"
MODEL_INFO = "sentiment_model_info"
ROUTE_LABEL = "exported_endpoint"
SCORING_ROUTES = ("/predict", "/invocations")
# kube-state-metrics series: present in a cluster, not in a lone Prometheus.
DEPLOYMENT_DESIRED_REPLICAS = "kube_deployment_spec_replicas"
DEPLOYMENT_AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"
CLUSTER_METRICS = (DEPLOYMENT_DESIRED_REPLICAS, DEPLOYMENT_AVAILABLE_REPLICAS)

GRAFANA_RATE_INTERVAL = "$__rate_interval"
LATENCY_QUANTILES = (0.5, 0.9, 0.99)
# Grafana's rule for $__rate_interval: a rate needs at least four scrapes in its range.
SCRAPES_PER_WINDOW = 4
DEFAULT_SCRAPE_INTERVAL_MS = 30_000  # Prometheus' own default

_UNIT_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
_DURATION_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")


@dataclass(frozen=True)
class Scope:
    """One SentimentModel's series: its namespace and its name (= its Service's name)."""

    namespace: str
    name: str

    def matchers(self, *extra: str) -> str:
        """The label matchers of this model's series, plus ``extra`` ones, in braces."""
        own = [f"namespace={_quote(self.namespace)}", f"service={_quote(self.name)}"]
        return "{" + ",".join([*own, *extra]) + "}"


def _quote(value: str) -> str:
    # A JSON string is a valid PromQL string literal.
    return json.dumps(value)


def _scoring_routes() -> str:
    return f"{ROUTE_LABEL}=~{_quote('|'.join(SCORING_ROUTES))}"


def duration_ms(duration: str) -> int:
    """Milliseconds of a Prometheus duration such as ``1m30s`` (``0`` is 0)."""
    if duration == "0":
        return 0
    parts = _DURATION_PART.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"{duration!r} is not a Prometheus duration")
    return sum(int(number) * _UNIT_MS[unit] for number, unit in parts)


def format_duration(milliseconds: int) -> str:
    """The shortest single-unit Prometheus duration of ``milliseconds`` (at most hours)."""
    for unit in ("h", "m", "s"):
        if milliseconds % _UNIT_MS[unit] == 0:
            return f"{milliseconds // _UNIT_MS[unit]}{unit}"
    return f"{milliseconds}ms"


def rate_window(scrape_interval: str) -> str:
    """The ``rate()`` range for a scrape interval: four scrapes, as Grafana would choose."""
    interval = duration_ms(scrape_interval) or DEFAULT_SCRAPE_INTERVAL_MS
    return format_duration(SCRAPES_PER_WINDOW * interval)


def prediction_rate(scope: Scope, window: str) -> str:
    """Texts predicted per second by all of the model's pods: the default scaling metric."""
    return f"sum(rate({PREDICTIONS}{scope.matchers()}[{window}]))"


def request_rate_by_pod(scope: Scope, window: str) -> str:
    """Scoring requests per second, per pod."""
    return f"sum by (pod) (rate({REQUESTS}{scope.matchers(_scoring_routes())}[{window}]))"


def latency_quantile(scope: Scope, quantile: float, window: str) -> str:
    """The ``quantile`` of scoring-request latency in seconds, per route."""
    buckets = f"rate({LATENCY_BUCKETS}{scope.matchers(_scoring_routes())}[{window}])"
    return f"histogram_quantile({quantile}, sum by (le, {ROUTE_LABEL}) ({buckets}))"


def prediction_rate_by_class_and_version(scope: Scope, window: str) -> str:
    """Texts predicted per second, by predicted class and model version."""
    return (
        f"sum by (predicted_class, model_version) (rate({PREDICTIONS}{scope.matchers()}[{window}]))"
    )


def pods_by_model_version(scope: Scope) -> str:
    """How many pods serve each model version (two during a rollout)."""
    return f"count by (model_version) ({MODEL_INFO}{scope.matchers()})"


def _deployment(scope: Scope) -> str:
    # kube-state-metrics labels its series with the object's namespace and name.
    return f"{{namespace={_quote(scope.namespace)},deployment={_quote(scope.name)}}}"


def desired_replicas(scope: Scope) -> str:
    """Replicas the Deployment asks for (set by KEDA's HPA while autoscaling)."""
    return f"sum({DEPLOYMENT_DESIRED_REPLICAS}{_deployment(scope)})"


def available_replicas(scope: Scope) -> str:
    """Replicas of the Deployment that are available."""
    return f"sum({DEPLOYMENT_AVAILABLE_REPLICAS}{_deployment(scope)})"


def scale_out_level(scope: Scope, threshold: str) -> str:
    """The metric value above which the HPA adds a replica: threshold per current replica."""
    return f"{threshold} * {desired_replicas(scope)}"


def constant(value: str) -> str:
    """A horizontal line at ``value``."""
    return f"vector({value})"


def reactive_trigger_query(scope: Scope, autoscaling: AutoscalingSpec, window: str) -> str:
    """The Prometheus trigger's query: the user's, or this model's prediction rate."""
    return autoscaling.prometheus.query or prediction_rate(scope, window)


def forecast_trigger_query(scope: Scope, autoscaling: AutoscalingSpec, window: str) -> str:
    """The PredictKube trigger's query: the user's, or this model's prediction rate."""
    return autoscaling.predictkube.query or prediction_rate(scope, window)
