"""HTTP framing from clients that get it wrong, or push it: never a 500, never a stuck socket."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import BODY_TIMEOUT_SECONDS
from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gthread_server(
    tmp_path_factory: pytest.TempPathFactory, registered_model: RegisteredModel
) -> Iterator[ModelServer]:
    """The server with the ``gthread`` worker class."""
    root = tmp_path_factory.mktemp("gthread-server")
    with serving(root, registered_model, WORKERS="1", WORKER_CLASS="gthread", THREADS="4") as run:
        yield run


def _server_of(request: pytest.FixtureRequest, worker_class: str) -> ModelServer:
    server: ModelServer = request.getfixturevalue(
        "server" if worker_class == "gevent" else "gthread_server"
    )
    return server


def _connect(server: ModelServer) -> socket.socket:
    url = urlsplit(server.url)
    assert url.hostname is not None
    assert url.port is not None
    return socket.create_connection((url.hostname, url.port), timeout=30)


def _read_all(connection: socket.socket) -> bytes:
    """Everything until the server closes, or a quiet second after its last byte."""
    received = b""
    connection.settimeout(30)
    while True:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            return received
        if not chunk:
            return received
        received += chunk
        connection.settimeout(1)


def _statuses(raw: bytes) -> list[int]:
    """The status of each answer in ``raw`` (a next answer starts right after a body)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"-1\r\n\r\n", b"2;" + b"x" * 9000],
    ids=["bad chunk size", "chunk shorter than declared", "negative size", "huge extension"],
)
def test_malformed_chunked_encoding_is_a_client_error(server: ModelServer, body: bytes) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body
        )
        connection.shutdown(socket.SHUT_WR)
        statuses = _statuses(_read_all(connection))
    assert all(400 <= status < 500 for status in statuses), statuses
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_pipelined_requests_are_all_answered_in_order(
    request: pytest.FixtureRequest, worker_class: str
) -> None:
    server = _server_of(request, worker_class)
    texts = ["A wonderful film, moving and great.", "Awful and boring, the worst."]
    template = (
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: {length}\r\n\r\n{body}"
    )
    payload = b""
    for text in texts:
        body = json.dumps({"text": text})
        payload += template.format(length=len(body.encode()), body=body).encode()
    with _connect(server) as connection:
        connection.sendall(payload)
        raw = _read_all(connection)
    statuses = _statuses(raw)
    assert statuses == [200, 200], raw[:500]
    answers = raw.split(b"HTTP/1.1 ")[1:]
    for answer, label in zip(answers, ["positive", "negative"], strict=False):
        assert f'"label":"{label}"'.encode() in answer, answer


@pytest.mark.parametrize(
    "start",
    [
        b"Content-Length: 100\r\n\r\n" + b'{"text": "',
        b"Transfer-Encoding: chunked\r\n\r\n" + b'a\r\n{"text": "',
    ],
    ids=["shorter than Content-Length", "chunked that stops"],
)
def test_a_body_that_stops_is_cut_off_and_others_still_served(
    server: ModelServer, http: requests.Session, start: bytes
) -> None:
    with _connect(server) as stalled, _connect(server) as trickling:
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        stalled.sendall(head + start)
        trickling.sendall(head + b"Content-Length: 1000\r\n\r\n")
        started = time.monotonic()
        for _ in range(6):  # a byte every half second: never quiet, never done
            trickling.sendall(b" ")
            assert http.post(f"{server.url}/predict", json={"text": "fine"}).status_code == 200
            time.sleep(0.5)
        answers = [_read_all(stalled), _read_all(trickling)]
        waited = time.monotonic() - started
    assert waited < BODY_TIMEOUT_SECONDS + 15
    for answer in answers:  # a 408, or a closed connection
        assert _statuses(answer) in ([408], []), answer[:300]
    assert "Traceback" not in server.log()


def test_a_body_cut_short_by_the_client_is_a_400_that_says_so(server: ModelServer) -> None:
    """The client closes its side after 10 of the 100 bytes it announced."""
    with _connect(server) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"text": "'
        )
        connection.shutdown(socket.SHUT_WR)
        raw = _read_all(connection)
    assert _statuses(raw) == [400], raw[:300]
    assert b"ended after 10 of its 100 bytes" in raw
    assert "Traceback" not in server.log()


@pytest.mark.parametrize(
    ("head", "body", "status"),
    [
        (b"POST /predict HTTP/1.1\r\nContent-Type: application/xml\r\n", b"<r>" * 700, 415),
        (b"POST /nowhere HTTP/1.1\r\nContent-Type: application/json\r\n", b" " * 2100, 404),
        (b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\n", b'{"text": 1}', 422),
        (b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\n", b'{"text":"ok"}', 200),
    ],
    ids=["refused unread", "unknown path", "read, then refused", "read and answered"],
)
@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_the_next_request_on_the_connection_is_answered_whatever_the_body_became(
    request: pytest.FixtureRequest, worker_class: str, head: bytes, body: bytes, status: int
) -> None:
    """gunicorn drains a body the app left unread, and the next request, already in its
    buffer, is served (gthread's poller would not see it: ``PipeliningThreadWorker``)."""
    server = _server_of(request, worker_class)
    first = head + b"Host: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with _connect(server) as connection:
        # Together: gthread would read the next request into its buffer with the body
        connection.sendall(first + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        connection.settimeout(10)
        raw = b""
        while raw.count(b"HTTP/1.1 ") < 2 or not raw.endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            raw += chunk
    assert _statuses(raw) == [status, 200], raw[:500]
