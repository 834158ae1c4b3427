"""``/metrics`` under gunicorn with two workers: exact counts, summed over all workers,
kept when a worker dies and is replaced."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer, wait_for_log

pytestmark = pytest.mark.integration

Labels = frozenset[tuple[str, str]]


def scrape(server: ModelServer) -> dict[tuple[str, Labels], float]:
    """Every sample of one scrape, on a fresh connection (so any worker may answer)."""
    response = requests.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Mapping[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def predict_many(server: ModelServer, texts: list[str]) -> list[str]:
    """One request per text, from 8 threads on separate connections."""

    def ask(text: str) -> str:
        response = requests.post(f"{server.url}/predict", json={"text": text}, timeout=60)
        assert response.status_code == 200
        return str(response.json()["predictions"][0]["label"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(ask, texts))


def predictions_by_worker(server: ModelServer) -> dict[int, float]:
    """Texts predicted per worker PID, read from each worker's own multiprocess file."""
    counts = {}
    for path in server.metrics_dir.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)], accumulate=False)  # type: ignore[no-untyped-call]
        counts[int(path.stem.split("_")[-1])] = sum(
            sample.value
            for family in families
            if family.name == "sentiment_predictions"
            for sample in family.samples
        )
    return counts


def test_counts_are_exact_and_summed_over_workers(
    server: ModelServer, registered_model: RegisteredModel, sample_texts: list[str]
) -> None:
    model = {"model_name": registered_model.name, "model_version": registered_model.version}
    before = scrape(server)
    texts: list[str] = []
    labels: list[str] = []
    for _ in range(20):  # until both workers have predicted something
        texts += sample_texts
        labels += predict_many(server, sample_texts)
        busy = {pid for pid, count in predictions_by_worker(server).items() if count > 0}
        if len(busy & server.worker_pids()) == 2:
            break
    assert len(busy & server.worker_pids()) == 2, "both workers served predictions"
    requests.post(f"{server.url}/predict", json={"text": ""}, timeout=30)

    for _ in range(4):  # each scrape may land on either worker: all must see the same sums
        after = scrape(server)
        delta = {
            key: after.get(key, 0.0) - before.get(key, 0.0) for key in after.keys() | before.keys()
        }
        ok = dict(method="POST", endpoint="/predict", status="200")
        bad = dict(method="POST", endpoint="/predict", status="422")
        assert value(delta, "sentiment_requests_total", **ok) == len(texts)
        assert value(delta, "sentiment_requests_total", **bad) == 1
        assert (
            value(delta, "sentiment_request_duration_seconds_count", endpoint="/predict")
            == len(texts) + 1
        )
        assert (
            value(
                delta, "sentiment_request_duration_seconds_bucket", endpoint="/predict", le="+Inf"
            )
            == len(texts) + 1
        )
        for label in ("positive", "negative"):
            counted = value(delta, "sentiment_predictions_total", predicted_class=label, **model)
            assert counted == labels.count(label)


def test_model_info_is_one_series_of_value_one(
    server: ModelServer, registered_model: RegisteredModel
) -> None:
    samples = scrape(server)
    info = {key: v for key, v in samples.items() if key[0] == "sentiment_model_info"}
    assert info == {
        (
            "sentiment_model_info",
            frozenset(
                {
                    ("model_name", registered_model.name),
                    ("model_version", registered_model.version),
                    ("run_id", registered_model.run_id),
                }
            ),
        ): 1.0
    }


def test_unknown_paths_are_one_endpoint_label(server: ModelServer) -> None:
    before = scrape(server)
    for path in ("/a", "/b/c", "/predict/extra", "/.env"):
        assert requests.get(f"{server.url}{path}", timeout=30).status_code == 404
    after = scrape(server)
    endpoints = {
        dict(labels)["endpoint"] for name, labels in after if name == "sentiment_requests_total"
    }
    assert "/a" not in endpoints
    assert "/b/c" not in endpoints
    assert "/.env" not in endpoints
    other = dict(method="GET", endpoint="other", status="404")
    assert (
        value(after, "sentiment_requests_total", **other)
        - value(before, "sentiment_requests_total", **other)
        == 4
    )


def test_a_replaced_worker_loses_no_totals(server: ModelServer, sample_texts: list[str]) -> None:
    predict_many(server, sample_texts[:16])
    ok = dict(method="POST", endpoint="/predict", status="200")
    before = value(scrape(server), "sentiment_requests_total", **ok)

    workers = server.worker_pids()
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replacement = wait_for_new_worker(server, old=workers)
    wait_for_log(server, f"Booting worker with pid: {replacement}")

    for _ in range(4):
        samples = scrape(server)
        assert value(samples, "sentiment_requests_total", **ok) == before
        info = [v for (name, _), v in samples.items() if name == "sentiment_model_info"]
        assert info == [1.0], "the dead worker's model-info gauge is gone, not doubled"
    # Forked from the master with the model in memory: it serves at once, without a download.
    assert len(predict_many(server, sample_texts[:8])) == 8
    assert server.log().count("model ready") == 1


def wait_for_new_worker(server: ModelServer, *, old: set[int], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == len(old) and len(new := pids - old) == 1:
            return new.pop()
        time.sleep(0.1)
    raise TimeoutError(f"no worker replaced one of {old}")
