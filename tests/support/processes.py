"""Start real server processes on loopback for tests and wait until they answer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: Where pods of an existing cluster (``E2E_KUBECONFIG``) reach servers on this host.
HOST_ADDRESS_ENV = "E2E_HOST_ADDRESS"


def reachable_host() -> tuple[str, str]:
    """Where a test server binds, and the address clients use.

    Inside the local cluster's network namespace it binds every address and is reached
    at the bridge address, as pods see the node; beside another cluster, at the address
    ``E2E_HOST_ADDRESS`` names; elsewhere loopback only.
    """
    if address := os.environ.get(HOST_ADDRESS_ENV):
        return "0.0.0.0", address
    from local_cluster import network
    from local_cluster.layout import Layout

    cluster = network.inode(Layout.default().netns)
    if cluster is not None and cluster == network.current_inode():
        return "0.0.0.0", str(network.GATEWAY)
    return "127.0.0.1", "127.0.0.1"


def wait_http(
    url: str,
    *,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    expect_status: int | None = 200,
    verify: bool | str = True,
) -> None:
    """Poll ``url`` until it answers (with ``expect_status`` when given).

    ``verify`` is requests' TLS verification: a CA bundle's path, or whether to verify.
    """
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            response = requests.get(url, timeout=2, verify=verify)
            if expect_status is None or response.status_code == expect_status:
                return
            last_error = f"status {response.status_code}"
        except requests.RequestException as error:
            last_error = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last_error}")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it outlives ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


@contextlib.contextmanager
def running(
    command: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group, logging to ``log_path``; stop it on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process(process)


@contextlib.contextmanager
def loopback_http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on a free loopback port, serving with ``handler``; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
