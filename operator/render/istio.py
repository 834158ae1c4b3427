"""Istio sidecar integration: where the sidecar publishes its own metrics."""

from __future__ import annotations

from typing import Any

from sentiment_operator.spec import SentimentModelSpec

# pilot-agent's status port; the injected sidecar does not declare it as a container port,
# so the Service targets it by number.
STATS_PORT = 15020
STATS_PORT_NAME = "http-istio-stats"
STATS_PATH = "/stats/prometheus"


def service_ports(spec: SentimentModelSpec) -> list[dict[str, Any]]:
    """The Service ports the sidecar adds: its metrics port, when Istio is enabled."""
    if not spec.istio.enabled:
        return []
    return [
        {
            "name": STATS_PORT_NAME,
            "port": STATS_PORT,
            "targetPort": STATS_PORT,
            "protocol": "TCP",
        }
    ]
