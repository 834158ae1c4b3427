"""Prometheus metrics of the server; their names and labels are API.

The autoscaler and the Grafana dashboard query exactly these series. Under
gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set before any worker starts, so every
worker writes its values to files there and a scrape of any worker sums them all.
Counter files of dead workers are kept, so a restarted worker loses no totals;
the model-info gauge is ``livemax``, so it neither double counts nor outlives
its worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from model_server import contract

MULTIPROC_ENV = contract.ENV_METRICS_DIR
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class ServerMetrics:
    """The server's metrics, in a registry of their own (one per app).

    A labelled child is looked up once and kept: ``labels()`` checks and converts its
    values on every call, a few microseconds that every request paid three times. The
    label values are bounded (methods, route templates, status codes, classes, the one
    model), and so are the children kept.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[Any, ...], Any] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            contract.REQUESTS_METRIC,
            "HTTP requests by method, route and status code.",
            [contract.LABEL_METHOD, contract.LABEL_ENDPOINT, contract.LABEL_STATUS],
            registry=self.registry,
        )
        self.latency = Histogram(
            contract.LATENCY_METRIC,
            "HTTP request latency by route.",
            [contract.LABEL_ENDPOINT],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            contract.PREDICTIONS_METRIC,
            "Texts predicted, by predicted class and model version.",
            [
                contract.LABEL_PREDICTED_CLASS,
                contract.LABEL_MODEL_NAME,
                contract.LABEL_MODEL_VERSION,
            ],
            registry=self.registry,
        )
        self.model_info = Gauge(
            contract.MODEL_INFO_METRIC,
            "The model this server serves (value 1).",
            [contract.LABEL_MODEL_NAME, contract.LABEL_MODEL_VERSION, contract.LABEL_RUN_ID],
            registry=self.registry,
            multiprocess_mode="livemax",
        )

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency."""
        method = method if method in KNOWN_METHODS else OTHER
        self._child(self.requests, method, endpoint, str(status)).inc()
        self._child(self.latency, endpoint).observe(seconds)

    def count_predictions(self, labels: Iterable[str], model_name: str, version: str) -> None:
        """Count predicted texts by class."""
        tally: dict[str, int] = {}
        for label in labels:
            tally[label] = tally.get(label, 0) + 1
        for label, count in tally.items():
            self._child(self.predictions, label, model_name, version).inc(count)

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def set_model(self, model_name: str, version: str, run_id: str) -> None:
        """Announce the model that this worker now serves."""
        self.model_info.labels(model_name, version, run_id).set(1)

    def exposition(self, accept_header: str | None) -> tuple[bytes, str]:
        """The metrics of all workers, in the format the scraper asks for, and its content type."""
        encode, content_type = choose_encoder(accept_header or "")
        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return encode(registry), content_type
