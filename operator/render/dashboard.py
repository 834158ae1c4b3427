"""The Grafana dashboard of one SentimentModel, in a ConfigMap for Grafana's sidecar.

kube-prometheus-stack's Grafana loads every ConfigMap labelled ``grafana_dashboard: "1"``
(from every namespace when its ``sidecar.dashboards.searchNamespace`` is ``ALL``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sentiment_operator.render import queries
from sentiment_operator.render.kinds import CONFIG_MAP
from sentiment_operator.render.labels import standard_labels
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.render.scaledobject import trigger_window
from sentiment_operator.spec import SentimentModelSpec

SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_LABEL_VALUE = "1"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
SCHEMA_VERSION = 39
PANEL_WIDTH = 12  # two panels per row of Grafana's 24 columns
PANEL_HEIGHT = 8


@dataclass(frozen=True)
class Target:
    """One query of a panel and how its series are named in the legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A time-series panel."""

    title: str
    unit: str
    targets: tuple[Target, ...]
    description: str = ""


def dashboard_uid(owner: Owner) -> str:
    """A stable uid, unique per resource and within Grafana's 40-character limit."""
    digest = hashlib.sha256(f"{owner.namespace}/{owner.name}".encode()).hexdigest()
    return f"sentiment-{digest[:16]}"


def _autoscaler_panel(scope: queries.Scope, spec: SentimentModelSpec) -> Panel:
    autoscaling = spec.autoscaling
    trigger = autoscaling.prometheus
    return Panel(
        "Autoscaler metric against its threshold",
        "short",
        (
            Target(
                queries.reactive_trigger_query(scope, autoscaling, trigger_window(spec)),
                "metric (what KEDA reads)",
            ),
            Target(
                queries.scale_out_level(scope, trigger.threshold),
                "scale-out level (threshold times replicas)",
            ),
            Target(queries.constant(trigger.activation_threshold), "activation threshold"),
        ),
        "KEDA adds a replica while the metric is above the threshold times the replicas, "
        "and scales from zero once it passes the activation threshold.",
    )


def panels(owner: Owner, spec: SentimentModelSpec) -> list[Panel]:
    """The dashboard's panels, in reading order."""
    scope = queries.Scope(owner.namespace, owner.name)
    window = queries.GRAFANA_RATE_INTERVAL
    result = [
        Panel(
            "Scoring requests per second by pod",
            "reqps",
            (Target(queries.request_rate_by_pod(scope, window), "{{pod}}"),),
        ),
        Panel(
            "Scoring latency",
            "s",
            tuple(
                Target(
                    queries.latency_quantile(scope, quantile, window),
                    f"p{quantile * 100:g} {{{{{queries.ROUTE_LABEL}}}}}",
                )
                for quantile in queries.LATENCY_QUANTILES
            ),
        ),
        Panel(
            "Predictions per second by class and model version",
            "ops",
            (
                Target(
                    queries.prediction_rate_by_class_and_version(scope, window),
                    "{{predicted_class}} (version {{model_version}})",
                ),
            ),
        ),
        Panel(
            "Pods serving each model version",
            "short",
            (Target(queries.pods_by_model_version(scope), "version {{model_version}}"),),
        ),
        Panel(
            "Replicas",
            "short",
            (
                Target(queries.desired_replicas(scope), "desired"),
                Target(queries.available_replicas(scope), "available"),
            ),
            "From kube-state-metrics.",
        ),
    ]
    if spec.autoscaling.enabled:
        result.append(_autoscaler_panel(scope, spec))
    return result


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {
            "h": PANEL_HEIGHT,
            "w": PANEL_WIDTH,
            "x": (index % 2) * PANEL_WIDTH,
            "y": (index // 2) * PANEL_HEIGHT,
        },
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + position),
                "datasource": DATASOURCE,
                "expr": target.expr,
                "legendFormat": target.legend,
            }
            for position, target in enumerate(panel.targets)
        ],
    }


def dashboard(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """The dashboard JSON model."""
    return {
        "uid": dashboard_uid(owner),
        "title": f"Sentiment model {owner.namespace}/{owner.name}",
        "tags": ["sentiment-operator"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": DATASOURCE_VARIABLE,
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "hide": 0,
                }
            ]
        },
        "panels": [_panel_json(panel, index) for index, panel in enumerate(panels(owner, spec))],
    }


def dashboard_key(owner: Owner) -> str:
    """The ConfigMap key, also the file name in Grafana's folder: unique across namespaces."""
    return f"sentiment-{owner.namespace}-{owner.name}.json"


def render_dashboard(owner: Owner, spec: SentimentModelSpec) -> dict[str, Any]:
    """The ConfigMap holding the dashboard, labelled for Grafana's sidecar."""
    labels = standard_labels(owner.name) | {SIDECAR_LABEL: SIDECAR_LABEL_VALUE}
    metadata = child_metadata(owner, labels)
    metadata["name"] = f"{owner.name}-dashboard"
    return {
        "apiVersion": CONFIG_MAP.api_version,
        "kind": CONFIG_MAP.kind,
        "metadata": metadata,
        "data": {dashboard_key(owner): json.dumps(dashboard(owner, spec), indent=2)},
    }
