"""Run a real Prometheus (Debian package ``prometheus``) on loopback and query it."""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.processes import free_port, running, wait_http

PROMETHEUS_BINARY = "prometheus"


class QueryError(AssertionError):
    """Prometheus refused a query (a PromQL syntax or evaluation error)."""


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus and where it logs."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant-vector result of ``expr`` (at unix time ``at``, default now)."""
        params: dict[str, str] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = requests.get(f"{self.url}/api/v1/query", params=params, timeout=30)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        if data["resultType"] != "vector":
            raise QueryError(f"{expr}: a {data['resultType']}, not an instant vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, expr: str, at: float | None = None) -> list[float]:
        """The sample values of ``expr``; each must be a finite number."""
        values = [float(sample["value"][1]) for sample in self.query(expr, at)]
        if not all(math.isfinite(value) for value in values):
            raise QueryError(f"{expr}: non-finite values {values}")
        return values

    def wait_for(self, expr: str, *, timeout: float = 60.0) -> list[float]:
        """Poll until ``expr`` returns a non-empty result; its values."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log()[-3000:]}")
            values = [float(sample["value"][1]) for sample in self.query(expr)]
            if values:
                return values
            time.sleep(0.5)
        raise TimeoutError(f"{expr} stayed empty for {timeout}s:\n{self.log()[-3000:]}")


def static_scrape_config(
    job: str, target: str, labels: Mapping[str, str], *, interval: str, path: str, honor: bool
) -> dict[str, Any]:
    """One scrape job of one target, with the target labels a service discovery would set."""
    return {
        "job_name": job,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": path,
        "honor_labels": honor,
        "static_configs": [{"targets": [target], "labels": dict(labels)}],
    }


@contextlib.contextmanager
def prometheus_server(
    root: Path,
    scrape_configs: list[dict[str, Any]],
    *,
    timeout: float = 60.0,
    port: int | None = None,
) -> Iterator[Prometheus]:
    """Start Prometheus with these scrape jobs and a fresh TSDB under ``root``.

    ``port`` lets a test hand out the address before the server starts.
    """
    binary = shutil.which(PROMETHEUS_BINARY)
    if binary is None:
        raise RuntimeError("prometheus is not installed: apt-get install prometheus")
    root.mkdir(parents=True, exist_ok=True)
    config = root / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": scrape_configs}, sort_keys=False))
    url = f"http://127.0.0.1:{port or free_port()}"
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--log.level=warn",
    ]
    with running(command, log_path=root / "prometheus.log", cwd=root) as process:
        wait_http(f"{url}/-/ready", timeout=timeout, process=process)
        yield Prometheus(url, process, root / "prometheus.log")
