"""Readiness, liveness and startup probes, as the kubelet runs them."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def resolve_port(port: int | str, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return int(item["containerPort"])
    raise ValueError(f"no container port named {port!r}")


def http_get(
    host: str, spec: Mapping[str, Any], container: Mapping[str, Any], timeout: float
) -> bool:
    connection = http.client.HTTPConnection(
        spec.get("host") or host, resolve_port(spec["port"], container), timeout=timeout
    )
    headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.37")
    try:
        connection.request("GET", spec.get("path", "/"), headers=headers)
        return 200 <= connection.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def tcp_socket(
    host: str, spec: Mapping[str, Any], container: Mapping[str, Any], timeout: float
) -> bool:
    address = (spec.get("host") or host, resolve_port(spec["port"], container))
    with contextlib.suppress(OSError), socket.create_connection(address, timeout=timeout):
        return True
    return False


def run_exec(argv: Sequence[str], timeout: float) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@dataclass
class Probe:
    """One probe's schedule and its run of successes and failures."""

    spec: Mapping[str, Any]
    started_at: float
    successes: int = 0
    failures: int = 0
    last_run: float = field(default=0.0)

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds", 10))

    def due(self, now: float) -> bool:
        if now < self.started_at + float(self.spec.get("initialDelaySeconds", 0)):
            return False
        return now - self.last_run >= self.period

    def record(self, ok: bool, now: float) -> None:
        self.last_run = now
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1

    @property
    def passing(self) -> bool:
        return self.successes >= int(self.spec.get("successThreshold", 1))

    @property
    def failed(self) -> bool:
        return self.failures >= int(self.spec.get("failureThreshold", 3))


def check(
    spec: Mapping[str, Any],
    host: str,
    container: Mapping[str, Any],
    exec_in_container: Callable[[Sequence[str]], list[str]],
) -> bool:
    """Run one probe once."""
    timeout = float(spec.get("timeoutSeconds", 1))
    if "httpGet" in spec:
        return http_get(host, spec["httpGet"], container, timeout)
    if "tcpSocket" in spec:
        return tcp_socket(host, spec["tcpSocket"], container, timeout)
    if "exec" in spec:
        return run_exec(exec_in_container(spec["exec"]["command"]), timeout)
    return False
