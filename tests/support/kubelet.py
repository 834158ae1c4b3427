"""A small test "kubelet": run a Deployment's pod as a local process from its own spec.

Given a Deployment, it starts the first container of the pod template as a process:
the image's entry point (or the container's ``command``) and ``args``, the container's
``env`` with ``secretKeyRef`` values and ``envFrom`` Secrets read from the cluster,
each ``emptyDir`` volume as a fresh directory (environment values under a mount path
are moved there), and the named container port on a free loopback port. It is ready
when the readiness probe's path answers 200.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_operator.kube import KubeApi, ObjectRef

from tests.support.processes import free_port, running, wait_http

#: The image's Python: MODEL_SERVER_PYTHON runs pods from another environment, e.g. one
#: holding only the lock's ``server`` extra, as the image does.
IMAGE_PYTHON = os.environ.get("MODEL_SERVER_PYTHON", sys.executable)
#: What the image's ENTRYPOINT runs (Dockerfile.server: ``python -m model_server``).
IMAGE_ENTRYPOINT: tuple[str, ...] = (IMAGE_PYTHON, "-m", "model_server")
#: What a container image brings to its environment besides the pod spec.
IMAGE_ENV_KEYS = ("PATH", "LANG", "LC_ALL")


class UnsupportedPodSpecError(NotImplementedError):
    """The pod spec uses something this small kubelet does not emulate."""


@dataclass(frozen=True)
class Pod:
    """A running pod: its process, where its container port answers, what it ran."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: Mapping[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _secret_data(api: KubeApi, namespace: str, name: str) -> dict[str, str]:
    secret = api.get(ObjectRef("v1", "Secret", namespace, name))
    if secret is None:
        raise LookupError(f"Secret {namespace}/{name} not found (the pod would not start)")
    return {
        key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()
    }


def _container_env(api: KubeApi, namespace: str, container: Mapping[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "secretRef" not in source:
            raise UnsupportedPodSpecError(f"envFrom source {source}")
        env.update(_secret_data(api, namespace, source["secretRef"]["name"]))
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        elif "secretKeyRef" in (variable.get("valueFrom") or {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = _secret_data(api, namespace, ref["name"])[ref["key"]]
        else:
            raise UnsupportedPodSpecError(f"env source of {variable['name']}: {variable}")
    return env


def _mounts(
    pod_spec: Mapping[str, Any], container: Mapping[str, Any], root: Path
) -> dict[str, Path]:
    """Each mount path of the container -> a fresh directory for its emptyDir volume."""
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            raise UnsupportedPodSpecError(f"volume {volume}")
        directory = root / "volumes" / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = directory
    return mounts


def _relocate(value: str, mounts: Mapping[str, Path]) -> str:
    """A path inside the container -> the directory standing in for its volume."""
    # Longest mount path first: /tmp/metrics is its own volume, not a part of /tmp.
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(f"{mount_path}/"):
            return str(mounts[mount_path]) + value[len(mount_path) :]
    return value


@contextlib.contextmanager
def run_pod(
    api: KubeApi, deployment: Mapping[str, Any], root: Path, *, timeout: float = 120.0
) -> Iterator[Pod]:
    """Start the Deployment's pod as a process under ``root``; wait until it is ready."""
    namespace = deployment["metadata"]["namespace"]
    pod_spec = deployment["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    root.mkdir(parents=True, exist_ok=True)

    command = [*(container.get("command") or IMAGE_ENTRYPOINT), *(container.get("args") or [])]
    if command[0] == "python":  # the image's interpreter
        command[0] = IMAGE_PYTHON
    mounts = _mounts(pod_spec, container, root)
    env = {key: os.environ[key] for key in IMAGE_ENV_KEYS if key in os.environ}
    env.update(
        {
            name: _relocate(value, mounts)
            for name, value in _container_env(api, namespace, container).items()
        }
    )
    # The server listens on $PORT; the pod exposes it as its first container port. Here
    # that port moves to a free one on loopback.
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports") or []}
    if not ports or env.get("PORT") != str(next(iter(ports.values()))):
        raise AssertionError(f"PORT={env.get('PORT')} is not the container port {ports}")
    host_port = free_port()
    env.update(PORT=str(host_port), HOST="127.0.0.1")
    env.setdefault("TMPDIR", str(mounts.get("/tmp", root)))  # the container's /tmp

    probe = (container.get("readinessProbe") or {}).get("httpGet") or {}
    probe_port = probe.get("port")
    if probe_port is not None and probe_port not in ports and probe_port not in ports.values():
        raise UnsupportedPodSpecError(f"readiness probe port {probe_port} is not a container port")
    url = f"http://127.0.0.1:{host_port}"
    log_path = root / "pod.log"
    with running(command, log_path=log_path, env=env, cwd=root) as process:
        try:
            wait_http(f"{url}{probe.get('path', '/')}", timeout=timeout, process=process)
        except (RuntimeError, TimeoutError) as error:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the pod never became ready: {error}\n{tail}") from error
        yield Pod(url=url, process=process, log_path=log_path, env=env)
