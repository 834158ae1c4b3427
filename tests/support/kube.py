"""The Kubernetes cluster under the tests: started once, entered by the test process.

The session joins the local cluster's network namespace before any test runs (so
servers that tests start, MLflow and Prometheus among them, are reachable from pods at
the bridge address), uses a cluster that is already up, or starts one and stops it
after. With ``E2E_KUBECONFIG`` set, it uses that cluster instead (the end-to-end test
on kind: scripts/kind-e2e.sh routes the Service and pod networks to the host and names
the address pods reach the host at in ``E2E_HOST_ADDRESS``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import unittest.mock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kopf
import yaml
from local_cluster import build, lifecycle, network
from local_cluster.layout import Layout

from tests.support.operator_env import operator_python

T = TypeVar("T")


#: The kubeconfig of a cluster to run the end-to-end test on instead of the local one
#: (scripts/kind-e2e.sh sets it to its kind cluster's).
EXISTING_KUBECONFIG_ENV = "E2E_KUBECONFIG"


@dataclass
class KubeCluster:
    """The cluster under the tests, driven with ``kubectl``: the local one (``layout`` set,
    started by the session or found running) or an existing one named by its kubeconfig."""

    kubeconfig: Path
    kubectl_path: Path
    layout: Layout | None = None
    started_here: bool = False

    @classmethod
    def local(cls, layout: Layout, *, started_here: bool) -> KubeCluster:
        return cls(layout.kubeconfig, build.bin_dir() / "kubectl", layout, started_here)

    def login(self) -> kopf.ConnectionInfo:
        """The admin credentials of its kubeconfig, read by kopf's parser as the operator's are."""
        with unittest.mock.patch.dict(os.environ, {"KUBECONFIG": str(self.kubeconfig)}):
            info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
        assert info is not None
        return info

    def env(self) -> dict[str, str]:
        path = f"{self.kubectl_path.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.kubectl_path), *args], input=stdin, capture_output=True, text=True,
            env=self.env(), timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def apply(self, *objects: Mapping[str, Any], namespace: str | None = None) -> None:
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        self.kubectl(*args, stdin=yaml.safe_dump_all([dict(o) for o in objects]))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        done = self.kubectl(*args, check=False)
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name}: {done.stderr.strip()}")
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
        items: list[dict[str, Any]] = json.loads(self.kubectl(*args).stdout)["items"]
        return items

    def restart_component(self, name: str, *, down_seconds: float, timeout: float = 120) -> None:
        """Stop a control-plane process, keep it down ``down_seconds``, start it, wait for it
        (the local cluster's processes only)."""
        assert self.layout is not None, "only the local cluster's processes can be restarted"
        done = self.layout.root / "restarted"
        done.unlink(missing_ok=True)
        (self.layout.root / "restart").write_text(f"{name} {down_seconds}\n")
        os.kill(int(self.layout.supervisor_pid.read_text()), signal.SIGHUP)
        wait_for(done.exists, timeout=timeout, what=f"{name} to be restarted")
        wait_for(
            lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
            timeout=timeout, what="the API server to be ready again",
        )  # fmt: skip

    def create_namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        return name

    def delete_namespace(self, name: str) -> None:
        self.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.3
) -> T:
    """Poll ``probe`` until it returns something truthy; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def start_cluster() -> KubeCluster:
    """The cluster ``E2E_KUBECONFIG`` names; else the local one, used when it is up or
    started; the session then joins its network namespace."""
    existing = os.environ.get(EXISTING_KUBECONFIG_ENV)
    if existing:
        kubectl = shutil.which("kubectl")
        assert kubectl is not None, f"{EXISTING_KUBECONFIG_ENV} is set: kubectl must be on PATH"
        return KubeCluster(Path(existing).resolve(), Path(kubectl))
    lifecycle.require_root()
    layout = Layout.default()
    started_here = not lifecycle.is_up(layout)
    if started_here:
        lifecycle.up(layout)
    # What the tests fetch from the network, fetched while it is reachable: the session
    # is in the cluster's namespace from here on.
    build.keda_crds()
    build.prometheus_operator_crds()
    operator_python()
    network.enter(layout.netns)
    return KubeCluster.local(layout, started_here=started_here)


def stop_cluster(cluster: KubeCluster) -> None:
    if cluster.layout is not None and cluster.started_here:
        lifecycle.down(cluster.layout)


def uses_cluster(fixture_names: Sequence[str]) -> bool:
    return "kube_cluster" in fixture_names
