"""Run the real model server (``python -m model_server``: gunicorn) on loopback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.processes import free_port, running, wait_http

# MODEL_SERVER_PYTHON runs the server from another environment, e.g. one holding only
# the lock's `server` extra, as the container image does.
SERVER_COMMAND = (os.environ.get("MODEL_SERVER_PYTHON", sys.executable), "-m", "model_server")

if TYPE_CHECKING:
    from tests.model_server.sample_model import RegisteredModel


@dataclass(frozen=True)
class ModelServer:
    """A running model server and where it logs and keeps its metrics."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        """PIDs of the gunicorn master's live child processes (its workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}


def server_env(root: Path, model_uri: str, tracking_uri: str, **extra: str) -> dict[str, str]:
    """The environment the operator gives the container, with a fresh port and /tmp."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "PROMETHEUS_")) and key not in {"MODEL_URI", "PORT"}
    }
    env.update(
        MODEL_URI=model_uri,
        MLFLOW_TRACKING_URI=tracking_uri,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WORKERS="1",
        PROMETHEUS_MULTIPROC_DIR=str(root / "metrics"),
        HOME=str(home),
        TMPDIR=str(home),
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def model_server(
    root: Path, env: Mapping[str, str], *, wait_ready: bool = True, timeout: float = 180
) -> Iterator[ModelServer]:
    """Start the server with ``env``; wait until it is live (and ready, by default)."""
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "server.log"
    url = f"http://127.0.0.1:{env['PORT']}"
    with running(SERVER_COMMAND, log_path=log_path, env=dict(env), cwd=root) as process:
        server = ModelServer(url, process, log_path, Path(env["PROMETHEUS_MULTIPROC_DIR"]))
        wait_http(f"{url}/healthz", timeout=timeout, process=process)
        if wait_ready:
            wait_http(f"{url}/readyz", timeout=timeout, process=process)
            _wait_for_workers(server, int(env.get("WORKERS", "1")), timeout)
        yield server


@contextlib.contextmanager
def serving(root: Path, model: RegisteredModel, **extra: str) -> Iterator[ModelServer]:
    """The server on ``model`` by its pinned URI, with ``extra`` settings, ready."""
    with model_server(root, server_env(root, model.uri, model.tracking_uri, **extra)) as server:
        yield server


def _wait_for_workers(server: ModelServer, count: int, timeout: float) -> None:
    """Until all ``count`` workers are forked (the first may answer before the others exist)."""
    deadline = time.monotonic() + timeout
    while len(server.worker_pids()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} workers:\n{server.log()[-3000:]}")
        time.sleep(0.05)


def run_to_exit(root: Path, env: Mapping[str, str], *, timeout: float = 180) -> tuple[int, str]:
    """Run a server expected to stop by itself; its exit status and log."""
    root.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        SERVER_COMMAND, env=dict(env), cwd=root, capture_output=True, timeout=timeout, check=False
    )
    output = (completed.stdout + completed.stderr).decode(errors="replace")
    return completed.returncode, output


def wait_for_log(server: ModelServer, text: str, *, timeout: float = 180) -> None:
    """Wait until ``text`` appears in the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.log():
            return
        if server.process.poll() is not None:
            break
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not in the server log:\n{server.log()[-3000:]}")
