"""ServiceMonitor, Istio sidecar metrics and the Grafana dashboard ConfigMap."""

from __future__ import annotations

import json
import re

import pytest
from sentiment_operator.render import Owner, render_dashboard, render_service_monitor
from sentiment_operator.render.dashboard import dashboard_uid
from sentiment_operator.spec import API_VERSION, KIND, SentimentModelSpec

from tests.operator.rendering import (
    OWNER,
    children_of,
    dashboard_of,
    every_option,
    spec_with,
)


def test_service_monitor_selects_exactly_the_model_service() -> None:
    children = children_of(spec_with(monitoring={"enabled": True}))
    monitor, service = children["ServiceMonitor"], children["Service"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/instance"] == "imdb"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["reviews"]}


def test_service_monitor_scrapes_metrics_on_the_named_port_at_the_interval() -> None:
    children = children_of(spec_with(monitoring={"enabled": True, "interval": "15s"}))
    (endpoint,) = children["ServiceMonitor"]["spec"]["endpoints"]
    port_names = [port["name"] for port in children["Service"]["spec"]["ports"]]
    assert endpoint["port"] in port_names
    assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "15s")
    assert endpoint["honorLabels"] is False  # the queries rely on the target labels


def test_extra_labels_are_added_but_cannot_replace_the_standard_ones() -> None:
    labels = {"release": "kube-prometheus-stack", "app.kubernetes.io/instance": "other"}
    monitor = render_service_monitor(OWNER, spec_with(monitoring={"labels": labels}))
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/instance"] == "imdb"


def test_istio_adds_the_sidecar_stats_port_and_its_scrape() -> None:
    children = children_of(every_option())
    ports = {port["name"]: port for port in children["Service"]["spec"]["ports"]}
    app, sidecar = children["ServiceMonitor"]["spec"]["endpoints"]

    assert ports[sidecar["port"]]["port"] == ports[sidecar["port"]]["targetPort"] == 15020
    assert sidecar["path"] == "/stats/prometheus"
    assert app["port"] == "http"
    assert app["path"] == "/metrics"
    template = children["Deployment"]["spec"]["template"]["metadata"]
    assert template["labels"]["sidecar.istio.io/inject"] == "true"


def test_the_sidecar_scrape_drops_the_app_series_so_none_is_counted_twice() -> None:
    _, sidecar = children_of(every_option())["ServiceMonitor"]["spec"]["endpoints"]
    (rule,) = sidecar["metricRelabelings"]
    assert (rule["action"], rule["sourceLabels"]) == ("drop", ["__name__"])
    pattern = re.compile(rule["regex"])  # Prometheus anchors relabel regexes
    for name in ("sentiment_predictions_total", "sentiment_model_info"):
        assert pattern.fullmatch(name)
    assert not pattern.fullmatch("istio_requests_total")


def test_without_istio_there_is_no_sidecar_port_or_scrape() -> None:
    children = children_of(spec_with(monitoring={"enabled": True}))
    assert [port["port"] for port in children["Service"]["spec"]["ports"]] == [80]
    assert len(children["ServiceMonitor"]["spec"]["endpoints"]) == 1


def test_dashboard_config_map_is_labelled_for_the_grafana_sidecar() -> None:
    config_map = render_dashboard(OWNER, spec_with(monitoring={"dashboard": True}))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["name"] == "imdb-dashboard"
    assert list(config_map["data"]) == ["sentiment-reviews-imdb.json"]


def test_two_models_get_distinct_dashboard_files_and_uids() -> None:
    spec = spec_with(monitoring={"dashboard": True})
    elsewhere = Owner(API_VERSION, KIND, "imdb", "staging", OWNER.uid)
    first, second = render_dashboard(OWNER, spec), render_dashboard(elsewhere, spec)
    assert set(first["data"]).isdisjoint(second["data"])
    assert dashboard_of(first)["uid"] != dashboard_of(second)["uid"]
    assert len(dashboard_uid(Owner(API_VERSION, KIND, "x" * 63, "y" * 63, ""))) <= 40


def test_dashboard_reads_from_a_datasource_variable() -> None:
    dashboard = dashboard_of(render_dashboard(OWNER, every_option()))
    (variable,) = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    dashboard = dashboard_of(render_dashboard(OWNER, every_option()))
    exprs = {panel["title"]: [t["expr"] for t in panel["targets"]] for panel in dashboard["panels"]}

    (per_pod,) = exprs["Scoring requests per second by pod"]
    assert "sum by (pod)" in per_pod
    assert "sentiment_requests_total" in per_pod
    latency = exprs["Scoring latency"]
    assert [expr.split(",")[0] for expr in latency] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.9",
        "histogram_quantile(0.99",
    ]
    assert all("sentiment_request_duration_seconds_bucket" in expr for expr in latency)
    (by_class,) = exprs["Predictions per second by class and model version"]
    assert "sum by (predicted_class, model_version)" in by_class
    assert any("kube_deployment_spec_replicas" in expr for expr in exprs["Replicas"])
    assert "Autoscaler metric against its threshold" in exprs


def test_autoscaler_panel_plots_the_trigger_query_and_its_thresholds() -> None:
    spec = every_option(
        autoscaling={
            "enabled": True,
            "prometheus": {"query": "sum(rate(my_metric[1m]))", "threshold": "7"},
        }
    )
    children = children_of(spec)
    panel = next(
        panel
        for panel in dashboard_of(children["ConfigMap"])["panels"]
        if panel["title"] == "Autoscaler metric against its threshold"
    )
    metric, level, activation = (target["expr"] for target in panel["targets"])
    reactive = children["ScaledObject"]["spec"]["triggers"][0]["metadata"]["query"]
    assert metric == reactive == "sum(rate(my_metric[1m]))"
    assert level.startswith("7 * ")
    assert activation == "vector(1)"


def test_without_autoscaling_the_dashboard_has_no_autoscaler_panel() -> None:
    dashboard = dashboard_of(render_dashboard(OWNER, spec_with(monitoring={"dashboard": True})))
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert "Autoscaler metric against its threshold" not in titles


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard_of(render_dashboard(OWNER, every_option()))["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells = [
        (x, y)
        for panel in panels
        for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
        for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))
    assert all(x < 24 for x, _ in cells)
    for panel in panels:
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])


@pytest.mark.parametrize("spec", [every_option(), spec_with(monitoring={"dashboard": True})])
def test_dashboard_json_is_stable_text(spec: SentimentModelSpec) -> None:
    key = "sentiment-reviews-imdb.json"
    text = render_dashboard(OWNER, spec)["data"][key]
    assert text == render_dashboard(OWNER, spec)["data"][key]
    assert json.loads(text)["title"] == "Sentiment model reviews/imdb"
