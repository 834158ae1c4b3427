"""Every answer carries the current time in its ``Date`` header (formatted once a second)."""

from __future__ import annotations

import email.utils
import time

import requests

from model_server.date_header import http_date
from tests.model_server.servers import ModelServer


def test_the_date_is_the_current_second_and_moves_on(
    server: ModelServer, http: requests.Session
) -> None:
    seen = []
    for _ in range(2):
        before = int(time.time())
        answer = http.get(f"{server.url}/healthz")
        after = time.time()
        date = email.utils.parsedate_to_datetime(answer.headers["Date"]).timestamp()
        assert before <= date <= after
        seen.append(answer.headers["Date"])
        time.sleep(1.1)
    assert seen[0] != seen[1]


def test_a_given_time_is_formatted_as_gunicorn_formats_it() -> None:
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(784111777.9) == "Sun, 06 Nov 1994 08:49:37 GMT"
    now = http_date()
    assert abs(email.utils.parsedate_to_datetime(now).timestamp() - time.time()) <= 1
