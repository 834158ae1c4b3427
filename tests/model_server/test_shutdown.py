"""SIGTERM: the server stops accepting, finishes the requests in flight, then exits 0."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from model_server.contract import GRACEFUL_SHUTDOWN_SECONDS
from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import model_server, server_env

pytestmark = pytest.mark.integration


def test_a_request_in_flight_is_answered_after_sigterm(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    env = server_env(tmp_path, registered_model.uri, registered_model.tracking_uri, WORKERS="2")
    body = json.dumps({"text": "A warm, funny and beautifully acted film."}).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with model_server(tmp_path, env) as server:
        port = int(env["PORT"])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
            client.sendall(head + body[:10])  # the request is in flight: half its body sent
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            client.sendall(body[10:])
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b'"predictions"' in answer
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        status = server.process.wait(timeout=GRACEFUL_SHUTDOWN_SECONDS + 30)
    assert status == 0, server.log()[-3000:]
