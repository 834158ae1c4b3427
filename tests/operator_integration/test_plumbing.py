"""Small helpers of the operator: poll ticks, backoff, the version cache."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sentiment_operator.handlers import poll_interval, seconds_to_next_tick
from sentiment_operator.registry import (
    ModelNotFound,
    ModelQuery,
    VersionCache,
    credentials_id,
    redact,
)
from sentiment_operator.runner import kopf_settings
from sentiment_operator.runtime import Runtime
from sentiment_operator.settings import OperatorSettings


def test_poll_ticks_fall_on_multiples_of_the_interval() -> None:
    assert seconds_to_next_tick(100.0, 30) == 20.0
    assert seconds_to_next_tick(120.0, 30) == 30.0
    assert seconds_to_next_tick(100.0, 30, skip=30) == 50.0


@pytest.mark.parametrize(
    ("spec", "interval"),
    [
        ({"registry": {"pollIntervalSeconds": 5}}, 5),
        ({"registry": {}}, 30),
        ({"registry": {"pollIntervalSeconds": "soon"}}, 30),
        ({"registry": {"pollIntervalSeconds": -1}}, 30),
    ],
)
def test_the_poll_interval_of_a_live_spec(spec: dict[str, Any], interval: float) -> None:
    assert poll_interval(spec) == interval


def test_a_failed_handler_is_retried_after_kopfs_backoff_from_the_settings() -> None:
    assert kopf_settings(OperatorSettings(retry_seconds=3)).execution.default_backoff == 3
    assert kopf_settings(OperatorSettings()).execution.default_backoff == 10


def test_credentials_are_identified_without_being_revealed() -> None:
    secret = {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "hunter2"}
    assert "hunter2" not in credentials_id(secret)
    assert credentials_id(secret) != credentials_id({**secret, "MLFLOW_TRACKING_PASSWORD": "x"})
    assert credentials_id(None) == ""
    assert redact("request to http://u:hunter2@mlflow:5000/api failed") == (
        "request to http://***@mlflow:5000/api failed"
    )


QUERY = ModelQuery("http://mlflow", "reviews", "Production", None)


class Registry:
    """Stands in for the registry behind the cache: counts and gates the questions."""

    def __init__(self, answer: str = "7") -> None:
        self.answer = answer
        self.asked = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, *_: Any, **__: Any) -> str:
        self.asked += 1
        self.gate.wait(10)
        if self.answer == "missing":
            raise ModelNotFound("no such model")
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_questions_for_one_model_cost_one_query() -> None:
    registry = Registry()
    registry.gate.clear()
    cache = VersionCache(resolve=registry)
    with ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(cache.resolve, QUERY, None, max_age=30) for _ in range(8)]
        while cache.queries == 0:
            threading.Event().wait(0.01)
        registry.gate.set()
        assert {answer.result(timeout=10) for answer in answers} == {"7"}
    assert registry.asked == 1


def test_answers_are_reused_until_they_are_older_than_asked_for() -> None:
    registry, clock = Registry(), Clock()
    cache = VersionCache(resolve=registry, clock=clock)
    assert cache.resolve(QUERY, None, max_age=30) == "7"
    clock.now += 29
    registry.answer = "8"
    assert cache.resolve(QUERY, None, max_age=30) == "7"
    assert cache.resolve(QUERY, None, max_age=15) == "8"
    assert registry.asked == 2


def test_failures_are_shared_answers_too() -> None:
    registry = Registry("missing")
    cache = VersionCache(resolve=registry, clock=Clock())
    for _ in range(3):
        with pytest.raises(ModelNotFound):
            cache.resolve(QUERY, None, max_age=30)
    assert registry.asked == 1


def test_different_credentials_never_share_an_answer() -> None:
    registry = Registry()
    cache = VersionCache(resolve=registry, clock=Clock())
    for secret in ({"MLFLOW_TRACKING_TOKEN": "a"}, {"MLFLOW_TRACKING_TOKEN": "b"}):
        query = ModelQuery(QUERY.tracking_uri, QUERY.model_name, "Production", None,
                           credentials_id(secret))  # fmt: skip
        cache.resolve(query, secret, max_age=30)
    assert registry.asked == 2


def test_failed_polls_skip_doubling_stretches_of_ticks_up_to_the_cap() -> None:
    runtime = Runtime(reconciler=None, executor=None, poll_backoff_max_seconds=300)  # type: ignore[arg-type]
    assert [runtime.polls_skipped(n, 30) for n in range(6)] == [0, 0, 30, 90, 210, 300]
