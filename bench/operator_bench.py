"""The operator on the local Kubernetes cluster with a real MLflow server.

Measures how long a new SentimentModel takes to get all its children, how long a
promotion in MLflow takes to re-pin the Deployment (from the poll tick that sees it,
and overall), the reconcile throughput with many resources (creation and a promotion
of all of them at once, with the registry queries that promotion cost), and the
operator process's resident memory.

    python -m bench --only operator [--resources 200] [--samples 10] [--json FILE]

The operator runs as in production (``python -m sentiment_operator run``, its own
process, with its ServiceAccount's token); the cluster and MLflow run on the same
machine. The resources ask for no replicas, so the figures are the operator's and the
API's, not the model server's start-up.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentiment_operator.kube import ObjectRef
from sentiment_operator.render import Owner, render_deployment
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import API_VERSION, KIND, parse_spec

from tests.operator_integration.harness import (
    Cluster,
    ModelRegistry,
    OperatorProcess,
    install_operator_rbac,
    model_spec,
    pinned,
)
from tests.support.kube import KubeCluster, start_cluster, stop_cluster
from tests.support.mlflow_server import mlflow_server

PROMOTION_INTERVAL = 5  # seconds: the smallest poll interval the spec accepts
FLEET_INTERVAL = 30  # the default poll interval, for the many-resources run
LATEST_VERSIONS = re.compile(r"POST /api/2\.0/mlflow/registered-models/get-latest-versions")


def wait(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll until ``probe`` is truthy; return the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(interval)
    return time.monotonic()


def summary(samples: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum, in milliseconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(p90 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def bench_create(cluster: Cluster, registry: ModelRegistry, samples: int) -> dict[str, Any]:
    """SentimentModel created -> Deployment and Service both present."""
    registry.promote("bench-create", registry.add_version("bench-create"))
    spec = model_spec(registry.url, "bench-create", server={"replicas": 0})
    spec["registry"]["pollIntervalSeconds"] = FLEET_INTERVAL
    times = []
    for index in range(samples):
        name = f"create-{index}"
        start = time.monotonic()
        cluster.create_model("bench-create", name, spec)
        end = wait(
            functools.partial(has_children, cluster, "bench-create", name),
            timeout=60, what=f"children of {name}",
        )  # fmt: skip
        times.append(end - start)
    return {"samples": samples, **summary(times)}


def bench_promotion(cluster: Cluster, registry: ModelRegistry, samples: int) -> dict[str, Any]:
    """Stage promotion in MLflow -> Deployment re-pinned (overall, and after the tick)."""
    model = "bench-promote"
    registry.promote(model, registry.add_version(model))
    spec = model_spec(registry.url, model, server={"replicas": 0})
    cluster.create_model("bench-promote", "promote", spec)
    wait(lambda: cluster.deployment("bench-promote", "promote"), 60, "the Deployment")
    overall, after_tick = [], []
    for _ in range(samples):
        version = registry.add_version(model)
        start = time.monotonic()
        registry.promote(model, version)
        uri = f"models:/{model}/{version}"
        end = wait(
            functools.partial(is_pinned, cluster, "bench-promote", "promote", uri),
            timeout=3 * PROMOTION_INTERVAL, what=f"re-pin to {uri}",
        )  # fmt: skip
        wall = time.time() - (time.monotonic() - end)
        overall.append(end - start)
        after_tick.append(wall - math.floor(wall / PROMOTION_INTERVAL) * PROMOTION_INTERVAL)
    return {
        "samples": samples,
        "poll_interval_s": PROMOTION_INTERVAL,
        "promotion_to_patch": summary(overall),
        "tick_to_patch": summary(after_tick),
    }


def has_children(cluster: Cluster, namespace: str, name: str) -> bool:
    return bool(cluster.deployment(namespace, name) and cluster.service(namespace, name))


def is_pinned(cluster: Cluster, namespace: str, name: str, uri: str) -> bool:
    return pinned(cluster.deployment(namespace, name)) == uri


def no_models_in(cluster: Cluster, namespace: str) -> bool:
    return not cluster.api.list(API_VERSION, KIND, namespace)


def count_lookups(log_path: Path) -> int:
    return len(LATEST_VERSIONS.findall(log_path.read_text(errors="replace")))


def bench_fleet(
    cluster: Cluster, registry: ModelRegistry, log_path: Path, resources: int
) -> dict[str, Any]:
    """Many SentimentModels on one model: creation, then one promotion of them all."""
    model, namespace = "bench-fleet", "bench-fleet"
    registry.promote(model, registry.add_version(model))
    spec = model_spec(registry.url, model, server={"replicas": 0})
    spec["registry"]["pollIntervalSeconds"] = FLEET_INTERVAL
    names = [f"fleet-{index:03d}" for index in range(resources)]

    def count_pinned(uri: str) -> int:
        deployments = cluster.api.list("apps/v1", "Deployment", namespace) or []
        return sum(1 for item in deployments if pinned(item) == uri)

    def count_reported(uri: str) -> int:
        models = cluster.api.list(API_VERSION, KIND, namespace) or []
        return sum(1 for item in models if (item.get("status") or {}).get("modelUri") == uri)

    asked_before_create = count_lookups(log_path)
    start = time.monotonic()
    for name in names:
        cluster.create_model(namespace, name, spec)
    submitted = time.monotonic()
    first = f"models:/{model}/1"
    children = wait(lambda: count_pinned(first) == resources, 600, "all Deployments", 0.2)
    reported = wait(lambda: count_reported(first) == resources, 600, "all statuses", 0.2)
    create_queries = count_lookups(log_path) - asked_before_create
    idle_tick = requests_in_one_tick(cluster.kube, FLEET_INTERVAL)

    version = registry.add_version(model)
    before = count_lookups(log_path)
    promoted = time.monotonic()
    registry.promote(model, version)
    uri = f"models:/{model}/{version}"
    repinned = wait(lambda: count_pinned(uri) == resources, 3 * FLEET_INTERVAL + 60, "re-pins", 0.2)
    wall = time.time() - (time.monotonic() - repinned)
    tick = math.floor(wall / FLEET_INTERVAL) * FLEET_INTERVAL
    queries = count_lookups(log_path) - before
    return {
        "resources": resources,
        "create_submit_s": round(submitted - start, 2),
        "create_to_all_children_s": round(children - start, 2),
        "create_to_all_status_s": round(reported - start, 2),
        "created_per_s": round(resources / (children - start), 1),
        "registry_queries_for_creation": create_queries,
        "promotion_to_all_repinned_s": round(repinned - promoted, 2),
        "tick_to_all_repinned_s": round(wall - tick, 2),
        "repinned_per_s": round(resources / max(wall - tick, 1e-3), 1),
        "registry_queries_for_promotion": queries,
        "api_requests_in_an_idle_tick": idle_tick,
        "api_requests_per_resource_per_idle_tick": round(sum(idle_tick.values()) / resources, 2),
    }


# What the operator reads and writes; no other client of the bench touches these per tick
# (the controllers follow them through watches, which count once, not per event).
OPERATOR_RESOURCES = frozenset({
    "sentimentmodels", "deployments", "services", "poddisruptionbudgets", "configmaps",
    "servicemonitors", "scaledobjects", "triggerauthentications", "events", "secrets",
})  # fmt: skip
REQUEST_SERIES = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)


def api_requests(kube: KubeCluster) -> Counter[str]:
    """The API server's request counts on the operator's resources, by verb."""
    text = kube.kubectl("get", "--raw", "/metrics").stdout
    counts: Counter[str] = Counter()
    for labels, value in REQUEST_SERIES.findall(text):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("resource") in OPERATOR_RESOURCES and fields.get("verb") != "WATCH":
            counts[fields["verb"]] += int(float(value))
    return counts


def requests_in_one_tick(kube: KubeCluster, interval: float) -> dict[str, int]:
    """Requests from just after one poll tick's work to just after the next one's."""
    settle = 15.0  # a tick's reconciles are done well within this (see tick_to_all_repinned)
    now = time.time()
    # One whole tick first: the controllers are still writing the statuses of a fleet just
    # created (one run counted 83 of their status updates and the operator's answers).
    time.sleep(math.floor(now / interval) * interval + 2 * interval + settle - now)
    before = api_requests(kube)
    time.sleep(interval)
    after = api_requests(kube)
    return {
        verb: after[verb] - before[verb] for verb in sorted(after) if after[verb] > before[verb]
    }


def bench_read_or_apply(
    cluster: Cluster, registry: ModelRegistry, samples: int = 200
) -> dict[str, Any]:
    """What an unchanged child costs per reconcile: a GET (what the operator does) or a
    server-side apply the API server finds to be a no-op (the alternative)."""
    spec = model_spec(registry.url, "bench-create", server={"replicas": 0})
    model = cluster.create_model("bench-create", "cost", spec)
    owner = Owner.from_object(model)
    deployment = render_deployment(owner, parse_spec(spec), "1", OperatorSettings())
    api = cluster.api.with_manager("bench-cost")
    ref = ObjectRef.of(deployment)
    api.apply(deployment)
    time.sleep(2)  # the Deployment controller writes its status once
    reads, applies, wrote = [], [], 0
    for _ in range(samples):
        start = time.perf_counter()
        before = (api.get(ref) or {})["metadata"]["resourceVersion"]
        reads.append(time.perf_counter() - start)
        start = time.perf_counter()
        after = api.apply(deployment)["metadata"]["resourceVersion"]
        applies.append(time.perf_counter() - start)
        wrote += after != before
    return {
        "samples": samples,
        "get": summary(reads),
        "noop_apply": summary(applies),
        "applies_that_wrote": wrote,
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --only operator")
    parser.add_argument("--resources", type=int, default=200, help="SentimentModels at once")
    parser.add_argument("--samples", type=int, default=10, help="creations and promotions")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="operator-bench-") as scratch:
        root = Path(scratch)
        kube = start_cluster()
        install_operator_rbac(kube, Path(__file__).resolve().parent.parent)
        for namespace in ("bench-create", "bench-promote", "bench-fleet"):
            kube.kubectl("create", "namespace", namespace, check=False)
        with mlflow_server(root / "mlflow") as tracking:
            registry = ModelRegistry(tracking.url)
            operator = OperatorProcess(kube, root)
            operator.start()
            try:
                cluster = Cluster(kube)
                results["rss_idle_mib"] = round(operator.rss_kib() / 1024, 1)
                results["create"] = bench_create(cluster, registry, args.samples)
                results["promotion"] = bench_promotion(cluster, registry, args.samples)
                for namespace in ("bench-create", "bench-promote"):  # stop their polling
                    cluster.delete_models(namespace)
                    empty = functools.partial(no_models_in, cluster, namespace)
                    wait(empty, 60, f"{namespace} emptied")
                results["fleet"] = bench_fleet(cluster, registry, tracking.log_path, args.resources)
                results["unchanged_child"] = bench_read_or_apply(cluster, registry)
                results["rss_with_fleet_mib"] = round(operator.rss_kib() / 1024, 1)
            finally:
                operator.stop()
                stop_cluster(kube)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
