"""How the workers listen: a socket each (``REUSE_PORT``, the default) or one shared."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import model_server, server_env

pytestmark = pytest.mark.integration

LISTEN, ESTABLISHED = "0A", "01"


def _sockets(port: int, state: str, peers: set[int] | None = None) -> set[str]:
    """Inodes of this machine's IPv4 TCP sockets on local ``port`` in ``state`` (and with a
    remote port in ``peers``, if given)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.split(":")[1], 16) for f in fields[1:3])
        if local == port and fields[3] == state and (peers is None or remote in peers):
            found.add(fields[9])
    return found


def _inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed since it was listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


@pytest.mark.parametrize("reuse_port", [True, False], ids=["a socket each", "one shared"])
def test_workers_listen_as_configured_and_connections_reach_both(
    tmp_path: Path, registered_model: RegisteredModel, reuse_port: bool
) -> None:
    env = server_env(
        tmp_path,
        registered_model.uri,
        registered_model.tracking_uri,
        WORKERS="2",
        REUSE_PORT=str(reuse_port).lower(),
    )
    port = int(env["PORT"])
    with model_server(tmp_path, env) as server:
        assert len(_sockets(port, LISTEN)) == (2 if reuse_port else 1)
        clients: list[socket.socket] = []
        try:
            for _ in range(32):  # kept open: each answered, so each has been accepted
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=30))
                clients[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                assert clients[-1].recv(65536).startswith(b"HTTP/1.1 200")
            # The server's ends of these connections, by the worker that holds them.
            ours = _sockets(port, ESTABLISHED, {client.getsockname()[1] for client in clients})
            accepted = {pid: len(_inodes(pid) & ours) for pid in server.worker_pids()}
        finally:
            for client in clients:
                client.close()
    assert sum(accepted.values()) == 32
    if reuse_port:  # spread by the kernel's hash: one worker with none is a 1 in 2**31 chance
        assert all(count > 0 for count in accepted.values()), accepted


def test_a_fresh_worker_answers_the_connections_waiting_for_it(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    # A new worker (after a crash, or the first one under a sudden burst) finds several
    # requests waiting and starts them together, before its per-worker threads (body
    # deadlines, micro-batcher) run. Here: the only worker stops accepting, 32 requests
    # queue on the shared socket, then it dies and the master forks a fresh one.
    env = server_env(
        tmp_path,
        registered_model.uri,
        registered_model.tracking_uri,
        WORKERS="1",
        REUSE_PORT="false",  # the queue is the master's socket: it outlives the worker
    )
    port = int(env["PORT"])
    with model_server(tmp_path, env) as server:
        (old,) = server.worker_pids()
        os.kill(old, signal.SIGSTOP)
        clients: list[socket.socket] = []
        try:
            for _ in range(32):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=30))
                clients[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            os.kill(old, signal.SIGKILL)
            answers = [client.recv(65536) for client in clients]
        finally:
            for client in clients:
                client.close()
        assert old not in server.worker_pids()
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers
