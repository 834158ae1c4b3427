"""The Prometheus Operator ServiceMonitor that scrapes the model-server pods."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render import istio
from sentiment_operator.render.kinds import SERVICE_MONITOR
from sentiment_operator.render.labels import selector_labels, standard_labels
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.spec import SentimentModelSpec

METRICS_PATH = "/metrics"
# The server's metrics, which the sidecar's port also serves when Istio merges them.
APP_METRICS = "sentiment_.*"


def _app_endpoint(spec: SentimentModelSpec) -> dict[str, Any]:
    return {
        "port": "http",
        "path": METRICS_PATH,
        "scheme": "http",
        "interval": spec.monitoring.interval,
        # Keep the target's endpoint/namespace/service labels: the queries scope by them.
        "honorLabels": False,
    }


def _sidecar_endpoint(spec: SentimentModelSpec) -> dict[str, Any]:
    return {
        "port": istio.STATS_PORT_NAME,
        "path": istio.STATS_PATH,
        "scheme": "http",
        "interval": spec.monitoring.interval,
        "honorLabels": False,
        # The app's series come from the app's own endpoint only, so nothing counts twice.
        "metricRelabelings": [
            {"sourceLabels": ["__name__"], "regex": APP_METRICS, "action": "drop"}
        ],
    }


def render_service_monitor(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """Scrape ``/metrics`` on the Service's ``http`` port (and the Istio sidecar's stats)."""
    endpoints = [_app_endpoint(spec)]
    if spec.istio.enabled:
        endpoints.append(_sidecar_endpoint(spec))
    # The user's labels (e.g. release: kube-prometheus-stack) never replace the standard ones.
    labels = dict(spec.monitoring.labels) | standard_labels(owner.name)
    return {
        "apiVersion": SERVICE_MONITOR.api_version,
        "kind": SERVICE_MONITOR.kind,
        "metadata": child_metadata(owner, labels),
        "spec": {
            "selector": {"matchLabels": selector_labels(owner.name)},
            "namespaceSelector": {"matchNames": [owner.namespace]},
            "endpoints": endpoints,
        },
    }
