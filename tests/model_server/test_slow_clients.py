"""Hundreds of connections that trickle or stall their requests starve nobody, and are cut off.

A real server (2 gevent workers) on loopback, 400 slow connections of four kinds
(heads a byte a second, bodies a byte a second, bodies shorter than declared,
chunked bodies that stop) held open while normal clients predict.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer, model_server, server_env
from tests.model_server.slow_clients import KINDS, SlowClients, slow_clients

pytestmark = pytest.mark.integration

SLOW_CONNECTIONS = 400
HEADER_TIMEOUT_SECONDS = 2
BODY_TIMEOUT_SECONDS = 3
#: Generous: "it answered at all", never a speed target.
ANSWER_BOUND_SECONDS = 30
CUT_OFF_BOUND_SECONDS = 60


@pytest.fixture(scope="module")
def guarded_server(
    tmp_path_factory: pytest.TempPathFactory, registered_model: RegisteredModel
) -> Iterator[ModelServer]:
    root: Path = tmp_path_factory.mktemp("slow-clients")
    env = server_env(
        root,
        registered_model.uri,
        registered_model.tracking_uri,
        WORKERS="2",
        HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_SECONDS),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    )
    with model_server(root, env) as server:
        yield server


def _predict(url: str, index: int) -> int:
    # A connection of its own per request: a new client must get through, not a kept one.
    answer = requests.post(
        f"{url}/predict",
        json={"text": f"Review {index}: a fine film, well acted and never dull."},
        headers={"Connection": "close"},
        timeout=ANSWER_BOUND_SECONDS,
    )
    assert answer.json()["predictions"][0]["label"] in ("positive", "negative")
    return answer.status_code


def _wait_all_closed(clients: SlowClients) -> None:
    deadline = time.monotonic() + CUT_OFF_BOUND_SECONDS
    while clients.open_count and time.monotonic() < deadline:
        time.sleep(0.2)


def test_normal_requests_are_answered_while_slow_clients_hold_connections(
    guarded_server: ModelServer,
) -> None:
    port = int(guarded_server.url.rsplit(":", 1)[1])
    with slow_clients("127.0.0.1", port, SLOW_CONNECTIONS) as clients:
        assert clients.failed_connects == 0
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(_predict, [guarded_server.url] * 64, range(64)))
        # The slow connections were still there while the normal ones were answered.
        still_open = clients.open_count
        clients.stop_reopening()
        _wait_all_closed(clients)
        assert clients.open_count == 0, "slow connections outlived their deadlines"
        outcomes = list(clients.outcomes)
    assert statuses == [200] * 64
    assert still_open >= SLOW_CONNECTIONS * 0.9
    assert {outcome.kind for outcome in outcomes} == set(KINDS)
    for outcome in outcomes:
        if outcome.kind == "head":
            # A head that never ends is closed (gunicorn answers nothing to a partial head).
            assert outcome.status in (None, 408), outcome
            assert outcome.seconds >= HEADER_TIMEOUT_SECONDS * 0.8, outcome
        else:
            # A body that trickles, stops short or stops mid-chunks is answered 408.
            assert outcome.status == 408, outcome
            assert outcome.seconds >= BODY_TIMEOUT_SECONDS * 0.8, outcome


def test_the_server_still_serves_after_the_slow_clients(guarded_server: ModelServer) -> None:
    with slow_clients("127.0.0.1", int(guarded_server.url.rsplit(":", 1)[1]), 40) as clients:
        clients.stop_reopening()
        _wait_all_closed(clients)
        assert clients.open_count == 0
    assert _predict(guarded_server.url, 0) == 200
    live = requests.get(f"{guarded_server.url}/readyz", timeout=ANSWER_BOUND_SECONDS)
    assert live.status_code == 200
