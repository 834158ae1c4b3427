"""KEDA children: the ScaledObject and the PredictKube TriggerAuthentication."""

from __future__ import annotations

from typing import Any

import yaml
from sentiment_operator.render import render_children

from tests.operator.rendering import OWNER, SETTINGS, children_of, every_option, spec_with

DEFAULT_QUERY = 'sum(rate(sentiment_predictions_total{namespace="reviews",service="imdb"}[2m]))'


def triggers(children: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {trigger["type"]: trigger for trigger in children["ScaledObject"]["spec"]["triggers"]}


def test_scaled_object_targets_the_model_deployment_within_the_bounds() -> None:
    spec = spec_with(
        autoscaling={
            "enabled": True,
            "minReplicas": 0,
            "maxReplicas": 8,
            "pollingInterval": 10,
            "cooldownPeriod": 120,
        }
    )
    children = children_of(spec)
    scaled, deployment = children["ScaledObject"]["spec"], children["Deployment"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": deployment["kind"],
        "name": deployment["metadata"]["name"],
    }
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 8)
    assert (scaled["pollingInterval"], scaled["cooldownPeriod"]) == (10, 120)


def test_keda_owns_the_replica_count_while_autoscaling() -> None:
    children = children_of(spec_with(server={"replicas": 3}, autoscaling={"enabled": True}))
    assert "replicas" not in children["Deployment"]["spec"]


def test_reactive_trigger_reads_this_model_prediction_rate_by_default() -> None:
    spec = spec_with(
        autoscaling={
            "enabled": True,
            "prometheus": {
                "serverAddress": "http://prometheus.monitoring:9090",
                "threshold": "25.5",
                "activationThreshold": "2",
            },
        }
    )
    (reactive,) = children_of(spec)["ScaledObject"]["spec"]["triggers"]
    assert reactive["type"] == "prometheus"
    assert reactive["metricType"] == "AverageValue"
    assert reactive["metadata"] == {
        "serverAddress": "http://prometheus.monitoring:9090",
        "query": DEFAULT_QUERY,
        "threshold": "25.5",
        "activationThreshold": "2",
    }


def test_the_rate_window_follows_the_scrape_interval() -> None:
    spec = spec_with(autoscaling={"enabled": True}, monitoring={"interval": "15s"})
    (reactive,) = children_of(spec)["ScaledObject"]["spec"]["triggers"]
    assert reactive["metadata"]["query"].endswith("[1m]))")


def test_a_user_query_replaces_the_default() -> None:
    query = 'sum(rate(istio_requests_total{destination_service_name="imdb"}[1m]))'
    spec = every_option(
        autoscaling={
            "enabled": True,
            "prometheus": {"query": query},
            "predictkube": {"enabled": True, "query": "sum(my_forecast_input)"},
        }
    )
    found = triggers(children_of(spec))
    assert found["prometheus"]["metadata"]["query"] == query
    assert found["predictkube"]["metadata"]["query"] == "sum(my_forecast_input)"


def test_predictkube_trigger_authenticates_through_the_trigger_authentication() -> None:
    spec = spec_with(
        autoscaling={
            "enabled": True,
            "prometheus": {"serverAddress": "http://prom:9090"},
            "predictkube": {
                "enabled": True,
                "apiKeySecret": {"name": "pk-secret", "key": "token"},
                "predictHorizon": "1h",
                "historyTimeWindow": "14d",
                "queryStep": "1m",
                "threshold": "30",
                "activationThreshold": "3",
            },
        }
    )
    children = children_of(spec)
    forecast = triggers(children)["predictkube"]
    authentication = children["TriggerAuthentication"]

    assert forecast["authenticationRef"] == {"name": authentication["metadata"]["name"]}
    assert forecast["metadata"] == {
        "predictHorizon": "1h",
        "historyTimeWindow": "14d",
        "prometheusAddress": "http://prom:9090",
        "query": DEFAULT_QUERY,
        "queryStep": "1m",
        "threshold": "30",
        "activationThreshold": "3",
    }
    assert authentication["spec"] == {
        "secretTargetRef": [{"parameter": "apiKey", "name": "pk-secret", "key": "token"}]
    }


def test_the_api_key_is_referenced_never_rendered() -> None:
    rendered = yaml.safe_dump_all(render_children(OWNER, every_option(), "3", SETTINGS))
    assert "predictkube-api-key" in rendered  # the Secret's name, and nothing from inside it
    assert "stringData" not in rendered
    assert "kind: Secret" not in rendered


def test_predictkube_off_leaves_only_the_reactive_trigger() -> None:
    children = children_of(spec_with(autoscaling={"enabled": True}))
    assert list(triggers(children)) == ["prometheus"]
    assert "TriggerAuthentication" not in children


def test_predictkube_without_autoscaling_renders_nothing_for_keda() -> None:
    children = children_of(spec_with(autoscaling={"predictkube": {"enabled": True}}))
    assert set(children) == {"Deployment", "Service"}
    assert "replicas" in children["Deployment"]["spec"]
