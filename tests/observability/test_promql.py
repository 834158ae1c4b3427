"""Every PromQL query the operator generates, evaluated by a real Prometheus scraping a
real model server under load on loopback.

Prometheus scrapes the server as the Prometheus Operator would from the rendered
ServiceMonitor: its path, interval and honorLabels, and the target labels the operator
attaches (job, namespace, service, pod, endpoint, container). A decoy target in the same
namespace, another model whose counters grow by a million per scrape, makes any query
that is not scoped to its own model visibly wrong.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests
from sentiment_operator.render import Owner, render_children
from sentiment_operator.render.dashboard import dashboard_key
from sentiment_operator.render.queries import GRAFANA_RATE_INTERVAL
from sentiment_operator.render.scaledobject import trigger_window
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import API_VERSION, KIND, SentimentModelSpec, parse_spec

from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer
from tests.support.processes import loopback_http_server
from tests.support.prometheus import Prometheus, prometheus_server, static_scrape_config

pytestmark = pytest.mark.integration

NAMESPACE = "reviews"
OWNER = Owner(API_VERSION, KIND, "imdb", NAMESPACE, "uid-1")
POD = "imdb-5d8c7b9f4-x2k7q"
SCRAPE_INTERVAL = "2s"
# kube-state-metrics series exist only in a cluster: queries reading them may be empty here.
CLUSTER_ONLY_METRICS = (
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
)
DECOY_STEP = 1_000_000  # per scrape of the decoy: far above any real rate here
PHASE_SECONDS = 12.0  # longer than the rate window (four scrapes) plus one scrape
TEXTS = (
    "A wonderful, moving film with a superb cast.",
    "Dull, predictable and far too long; I wanted my money back.",
)


def rendered_spec() -> SentimentModelSpec:
    return parse_spec(
        {
            "model": {"name": "imdb-sentiment", "stage": "Production"},
            "registry": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
            "monitoring": {"enabled": True, "dashboard": True, "interval": SCRAPE_INTERVAL},
            "autoscaling": {"enabled": True, "predictkube": {"enabled": True}},
        }
    )


class DecoyHandler(BaseHTTPRequestHandler):
    """Another model's /metrics, whose counters jump by DECOY_STEP on every scrape."""

    scrapes = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            type(self).scrapes += 1
            total = type(self).scrapes * DECOY_STEP
        body = (
            "# TYPE sentiment_predictions_total counter\n"
            f'sentiment_predictions_total{{predicted_class="positive",model_name="decoy",'
            f'model_version="decoy-1"}} {total}\n'
            "# TYPE sentiment_requests_total counter\n"
            f'sentiment_requests_total{{method="POST",endpoint="/predict",status="200"}} {total}\n'
            "# TYPE sentiment_model_info gauge\n"
            'sentiment_model_info{model_name="decoy",model_version="decoy-1",run_id="r"} 1\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep the test output quiet


@pytest.fixture(scope="module")
def decoy() -> Iterator[str]:
    """host:port of the decoy model's metrics endpoint."""
    with loopback_http_server(DecoyHandler) as port:
        yield f"127.0.0.1:{port}"


def operator_labels(service: str, pod: str, port_name: str) -> dict[str, str]:
    """The target labels the Prometheus Operator attaches to a ServiceMonitor target."""
    return {
        "job": service,
        "namespace": NAMESPACE,
        "service": service,
        "pod": pod,
        "endpoint": port_name,
        "container": "model-server",
    }


@pytest.fixture(scope="module")
def children() -> dict[str, dict[str, Any]]:
    rendered = render_children(OWNER, rendered_spec(), "1", OperatorSettings())
    return {child["kind"]: child for child in rendered}


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    server: ModelServer,
    decoy: str,
    children: dict[str, dict[str, Any]],
) -> Iterator[Prometheus]:
    (endpoint,) = children["ServiceMonitor"]["spec"]["endpoints"]
    scrape = {
        "interval": endpoint["interval"],
        "path": endpoint["path"],
        "honor": endpoint["honorLabels"],
    }
    jobs = [
        static_scrape_config(
            f"serviceMonitor/{NAMESPACE}/{OWNER.name}/0",
            server.url.removeprefix("http://"),
            operator_labels(OWNER.name, POD, endpoint["port"]),
            **scrape,
        ),
        static_scrape_config(
            f"serviceMonitor/{NAMESPACE}/decoy/0",
            decoy,
            operator_labels("decoy", "decoy-0", endpoint["port"]),
            **scrape,
        ),
    ]
    with prometheus_server(tmp_path_factory.mktemp("prometheus"), jobs) as running:
        running.wait_for(f'up{{service="{OWNER.name}"}} == 1')
        running.wait_for('up{service="decoy"} == 1')
        yield running


def drive(url: str, *, seconds: float, concurrency: int, pause: float) -> int:
    """POST one text per request from ``concurrency`` clients for ``seconds``; how many.

    Every fourth request goes to /invocations, the rest to /predict.
    """
    deadline = time.monotonic() + seconds
    limit = 5_000  # per client: the loop is bounded in count as well as time

    def client(index: int) -> int:
        sent = 0
        with requests.Session() as session:
            while sent < limit and time.monotonic() < deadline:
                text = TEXTS[(index + sent) % len(TEXTS)]
                # A mix of both scoring endpoints, so every per-endpoint panel has traffic.
                if sent % 4 == 3:
                    body: dict[str, Any] = {"dataframe_records": [{"review": text}]}
                    response = session.post(f"{url}/invocations", json=body, timeout=60)
                else:
                    response = session.post(f"{url}/predict", json={"text": text}, timeout=60)
                assert response.status_code == 200, response.text
                sent += 1
                time.sleep(pause)
        return sent

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(client, range(concurrency)))


@dataclass(frozen=True)
class Phases:
    """When the low-rate and the high-rate phase ended (unix time), and what each sent."""

    low_end: float
    high_end: float
    low_requests: int
    high_requests: int


@pytest.fixture(scope="module")
def phases(prometheus: Prometheus, server: ModelServer) -> Phases:
    low = drive(server.url, seconds=PHASE_SECONDS, concurrency=1, pause=0.5)
    low_end = time.time()
    high = drive(server.url, seconds=PHASE_SECONDS, concurrency=6, pause=0.0)
    high_end = time.time()
    # Wait until Prometheus has scraped past the end of the load.
    prometheus.wait_for(f'timestamp(up{{service="{OWNER.name}"}}) > {high_end + 0.5:.3f}')
    return Phases(low_end, high_end, low, high)


def trigger_queries(children: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        trigger["type"]: trigger["metadata"]["query"]
        for trigger in children["ScaledObject"]["spec"]["triggers"]
    }


def panel_queries(children: dict[str, dict[str, Any]], window: str) -> list[tuple[str, str]]:
    """(panel title, query) of every dashboard target, with Grafana's variables filled in."""
    dashboard = json.loads(children["ConfigMap"]["data"][dashboard_key(OWNER)])
    found = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace(GRAFANA_RATE_INTERVAL, window)
            assert "$" not in expr, f"unsubstituted variable in {expr}"
            found.append((panel["title"], expr))
    return found


def test_every_trigger_query_returns_one_number(
    prometheus: Prometheus, phases: Phases, children: dict[str, dict[str, Any]]
) -> None:
    for kind, query in trigger_queries(children).items():
        values = prometheus.values(query, at=phases.high_end)
        # KEDA needs exactly one element back.
        assert len(values) == 1, f"{kind}: {query} -> {values}"
        assert 0 < values[0] < DECOY_STEP / 100, f"{kind}: {query} -> {values}"


def test_the_reactive_trigger_rises_with_the_request_rate(
    prometheus: Prometheus, phases: Phases, children: dict[str, dict[str, Any]]
) -> None:
    assert phases.high_requests > phases.low_requests
    query = trigger_queries(children)["prometheus"]
    (low,) = prometheus.values(query, at=phases.low_end)
    (high,) = prometheus.values(query, at=phases.high_end)
    assert 0 < low < high, (low, high)


def test_every_dashboard_query_returns_numbers_for_this_model_only(
    prometheus: Prometheus, phases: Phases, children: dict[str, dict[str, Any]]
) -> None:
    window = trigger_window(rendered_spec())  # what $__rate_interval is at this scrape interval
    queries = panel_queries(children, window)
    assert len(queries) >= 9
    cluster_only = []
    for title, query in queries:
        samples = prometheus.query(query, at=phases.high_end)
        if any(metric in query for metric in CLUSTER_ONLY_METRICS):
            cluster_only.append(title)  # syntactically valid (the query succeeded); may be empty
            continue
        values = prometheus.values(query, at=phases.high_end)
        assert values, f"{title}: {query} returned nothing"
        assert all(value < DECOY_STEP / 100 for value in values), f"{title}: {query} -> {values}"
        for sample in samples:
            assert sample["metric"].get("pod", POD) == POD, f"{title}: {sample}"
            assert "decoy" not in sample["metric"].get("model_version", ""), f"{title}: {sample}"
    assert set(cluster_only) == {"Replicas", "Autoscaler metric against its threshold"}


def test_the_dashboard_sees_the_served_model_version(
    prometheus: Prometheus,
    phases: Phases,
    children: dict[str, dict[str, Any]],
    registered_model: RegisteredModel,
) -> None:
    window = trigger_window(rendered_spec())
    (query,) = [
        query
        for title, query in panel_queries(children, window)
        if title == "Predictions per second by class and model version"
    ]
    samples = prometheus.query(query, at=phases.high_end)
    assert {sample["metric"]["model_version"] for sample in samples} == {registered_model.version}
    assert {sample["metric"]["predicted_class"] for sample in samples} <= {"positive", "negative"}
