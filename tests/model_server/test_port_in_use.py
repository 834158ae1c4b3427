"""A server started on the port of a running one refuses to start (it used to share it)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from model_server.listening import in_use
from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import SERVER_COMMAND, model_server, server_env
from tests.support.processes import wait_http


def test_a_listening_port_is_in_use_and_a_closed_one_is_not() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as the workers bind
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert in_use("127.0.0.1", port)
    assert not in_use("127.0.0.1", port)
    assert not in_use("127.0.0.1", 0)


def test_connections_of_a_stopped_server_do_not_hold_its_port() -> None:
    """A restarted server binds at once, whatever is left of the old one's connections."""
    with socket.socket() as listener:
        for option in (socket.SO_REUSEADDR, socket.SO_REUSEPORT):  # as gunicorn binds
            listener.setsockopt(socket.SOL_SOCKET, option, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end waits in TIME_WAIT
        client.close()
    assert not in_use("127.0.0.1", port)


@pytest.mark.integration
def test_a_second_server_on_the_same_port_exits_and_the_first_serves_on(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    env = server_env(tmp_path / "first", registered_model.uri, registered_model.tracking_uri)
    with model_server(tmp_path / "first", env) as first:
        second = subprocess.run(
            SERVER_COMMAND, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"127.0.0.1 port {env['PORT']} is in use (PORT)" in second.stderr
        assert "Traceback" not in second.stderr
        wait_http(f"{first.url}/readyz", timeout=10, process=first.process)
