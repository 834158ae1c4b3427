"""A real ``mlflow server`` (SQLite backend, local artifacts), where the tests' pods reach it."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, reachable_host, running, wait_http


@dataclass(frozen=True)
class MlflowServer:
    """Where a running test MLflow server listens and keeps its data."""

    url: str
    root: Path
    log_path: Path


def mlflow_executable() -> str:
    """The ``mlflow`` script of the interpreter running the tests."""
    candidate = Path(sys.executable).with_name("mlflow")
    return str(candidate) if candidate.exists() else shutil.which("mlflow") or "mlflow"


@contextlib.contextmanager
def mlflow_server(root: Path, *, port: int | None = None) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` with its store under ``root``; stop it on exit.

    ``port`` lets a test restart a server on the address clients already know.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    bind, advertised = reachable_host()
    url = f"http://{advertised}:{port}"
    log_path = root / "mlflow-server.log"
    command = [
        mlflow_executable(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        bind,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The server's job runner (huey workers for GenAI jobs) is not needed and costs
    # about eight processes per server.
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with running(command, log_path=log_path, env=env, cwd=root) as process:
        wait_http(f"{url}/health", timeout=120, process=process)
        yield MlflowServer(url=url, root=root, log_path=log_path)
