"""A real ``mlflow server`` (SQLite backend, local artifacts), where the tests' pods reach it."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
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


@dataclass(frozen=True)
class ServerTls:
    """HTTPS for ``mlflow server``: its certificate and key, the CA that signed them, and
    the CA whose client certificates it checks (the certificate stays optional)."""

    cert: Path
    key: Path
    ca: Path
    client_ca: Path | None = None

    def uvicorn_options(self) -> str:
        options = ["--ssl-certfile", str(self.cert), "--ssl-keyfile", str(self.key)]
        # Clients' kept-alive TLS connections would otherwise hold the shutdown until SIGKILL.
        options += ["--timeout-graceful-shutdown", "2"]
        if self.client_ca is not None:
            options += ["--ssl-ca-certs", str(self.client_ca), "--ssl-cert-reqs", "1"]
        return shlex.join(options)


@contextlib.contextmanager
def mlflow_server(
    root: Path,
    *,
    port: int | None = None,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    tls: ServerTls | None = None,
) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` with its store under ``root``; stop it on exit.

    ``port`` lets a test restart a server on the address clients already know;
    ``options`` and ``env`` are added to the server's command line and environment.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    bind, advertised = reachable_host()
    url = f"{'https' if tls else 'http'}://{advertised}:{port}"
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
        *options,
    ]
    if tls is not None:
        command += ["--uvicorn-opts", tls.uvicorn_options()]
    # The server's job runner (huey workers for GenAI jobs) is not needed and costs
    # about eight processes per server.
    server_env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **(env or {}),
    }
    verify = str(tls.ca) if tls else True
    with running(command, log_path=log_path, env=server_env, cwd=root) as process:
        wait_http(f"{url}/health", timeout=120, process=process, verify=verify)
        yield MlflowServer(url=url, root=root, log_path=log_path)


@contextlib.contextmanager
def basic_auth_mlflow_server(root: Path, *, admin_password: str) -> Iterator[MlflowServer]:
    """``mlflow server --app-name basic-auth``: every request needs the admin's login."""
    env = {
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "tests-only",
    }
    with mlflow_server(root, options=["--app-name", "basic-auth"], env=env) as server:
        yield server
