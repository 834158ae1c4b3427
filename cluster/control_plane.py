"""Start and supervise the control plane inside the cluster's network namespace.

This runs as one process (``python -m local_cluster supervise``) already inside the
namespace: it makes the keys, starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, the node agent, kube-proxy and CoreDNS in that order, each waiting for
the one before, and stops them in reverse on SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from local_cluster import build, kubeconfig, network
from local_cluster.layout import CLUSTER_DOMAIN, NODE_NAME, Layout
from local_cluster.pki import Pki

log = logging.getLogger(__name__)

API_PORT = 6443
API_URL = f"https://{network.GATEWAY}:{API_PORT}"
DNS_READY_URL = "http://127.0.0.1:8181/ready"
START_TIMEOUT = 180.0


@dataclass
class Component:
    """One process of the control plane."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _tcp_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


class ControlPlane:
    """The processes of one cluster, started in order and stopped in reverse."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.bin = build.bin_dir()
        self.pki = Pki(layout.pki)
        self.components: list[Component] = []
        self.stopping = threading.Event()

    # -- set-up ----------------------------------------------------------------

    def _identities(self) -> dict[str, Path]:
        pki, ca = self.pki, self.pki.ca_cert
        pki.create_authority()
        pki.issue(
            "apiserver",
            common_name="kube-apiserver",
            server_names=(
                "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
            ),
            server_ips=("127.0.0.1", str(network.GATEWAY), str(network.API_SERVICE_IP)),
        )  # fmt: skip
        pki.issue(
            "kubelet",
            common_name=f"system:node:{NODE_NAME}",
            server_names=(NODE_NAME,),
            server_ips=(str(network.GATEWAY),),
        )
        pki.issue(
            "apiserver-kubelet-client", common_name="kube-apiserver", organization="system:masters"
        )
        users = {
            "admin": ("kubernetes-admin", "system:masters"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
            "proxy": ("system:kube-proxy", None),
            # The node agent acts for the whole node (pod status, tokens, leases).
            "node": (f"system:node:{NODE_NAME}", "system:masters"),
        }
        configs = {}
        for name, (user, group) in users.items():
            identity = pki.issue(name, common_name=user, organization=group)
            path = (
                self.layout.kubeconfig
                if name == "admin"
                else self.layout.root / f"{name}.kubeconfig"
            )
            configs[name] = kubeconfig.write(
                path, server=API_URL, ca=ca, identity=identity, user=user
            )
        return configs

    def _plan(self, configs: dict[str, Path]) -> list[Component]:
        b, pki = self.bin, self.pki
        tls = ssl.create_default_context(cafile=str(pki.ca_cert))
        corefile = self.layout.root / "Corefile"
        corefile.write_text(
            f"{CLUSTER_DOMAIN}:53 {{\n"
            f"    bind {network.GATEWAY}\n"
            "    errors\n"
            f"    kubernetes {CLUSTER_DOMAIN} {{\n"
            f"        kubeconfig {configs['admin']} local\n"
            "    }\n"
            "    ready 127.0.0.1:8181\n"
            "}\n"
            f".:53 {{\n    bind {network.GATEWAY}\n    errors\n}}\n"
        )
        return [
            Component(
                "etcd",
                [
                    str(b / "etcd"), "--name", "local", "--data-dir", str(self.layout.etcd_data),
                    "--listen-client-urls", "http://127.0.0.1:2379",
                    "--advertise-client-urls", "http://127.0.0.1:2379",
                    "--listen-peer-urls", "http://127.0.0.1:2380",
                    "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                    "--initial-cluster", "local=http://127.0.0.1:2380",
                    "--unsafe-no-fsync", "--log-level", "warn",
                ],
                lambda: _http_ok("http://127.0.0.1:2379/health"),
            ),
            Component(
                "kube-apiserver",
                [
                    str(b / "kube-apiserver"),
                    "--etcd-servers", "http://127.0.0.1:2379",
                    "--bind-address", "0.0.0.0", "--secure-port", str(API_PORT),
                    "--advertise-address", str(network.GATEWAY),
                    "--service-cluster-ip-range", str(network.SERVICE_CIDR),
                    "--authorization-mode", "Node,RBAC",
                    "--client-ca-file", str(pki.ca_cert),
                    "--tls-cert-file", str(pki.root / "apiserver.crt"),
                    "--tls-private-key-file", str(pki.root / "apiserver.key"),
                    "--kubelet-client-certificate", str(pki.root / "apiserver-kubelet-client.crt"),
                    "--kubelet-client-key", str(pki.root / "apiserver-kubelet-client.key"),
                    "--kubelet-certificate-authority", str(pki.ca_cert),
                    "--kubelet-preferred-address-types", "InternalIP,Hostname",
                    "--service-account-issuer", f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
                    "--service-account-key-file", str(pki.sa_pub),
                    "--service-account-signing-key-file", str(pki.sa_key),
                    "--profiling=false", "--v=1",
                ],
                lambda: _tcp_open(str(network.GATEWAY), API_PORT)
                and _http_ok(f"{API_URL}/readyz", tls),
            ),
            Component(
                "kube-controller-manager",
                [
                    str(b / "kube-controller-manager"),
                    "--kubeconfig", str(configs["controller-manager"]),
                    "--authentication-kubeconfig", str(configs["controller-manager"]),
                    "--authorization-kubeconfig", str(configs["controller-manager"]),
                    "--controllers", "*", "--use-service-account-credentials",
                    "--service-account-private-key-file", str(pki.sa_key),
                    "--root-ca-file", str(pki.ca_cert),
                    "--cluster-cidr", str(network.POD_CIDR),
                    "--leader-elect=false", "--bind-address", "127.0.0.1", "--v=1",
                ],
                lambda: _tcp_open("127.0.0.1", 10257),
            ),
            Component(
                "kube-scheduler",
                [
                    str(b / "kube-scheduler"), "--kubeconfig", str(configs["scheduler"]),
                    "--authentication-kubeconfig", str(configs["scheduler"]),
                    "--authorization-kubeconfig", str(configs["scheduler"]),
                    "--leader-elect=false", "--bind-address", "127.0.0.1", "--v=1",
                ],
                lambda: _tcp_open("127.0.0.1", 10259),
            ),
            Component(
                "node-agent",
                [
                    sys.executable, "-m", "local_cluster", "node-agent",
                    "--kubeconfig", str(configs["node"]),
                ],
                lambda: self._node_ready(configs["admin"]),
            ),
            Component(
                "kube-proxy",
                [
                    str(b / "kube-proxy"), "--kubeconfig", str(configs["proxy"]),
                    "--proxy-mode", "nftables", "--masquerade-all",
                    "--hostname-override", NODE_NAME, "--cluster-cidr", str(network.POD_CIDR),
                    "--conntrack-max-per-core", "0",
                    "--metrics-bind-address", "127.0.0.1:10249",
                    "--healthz-bind-address", "127.0.0.1:10256", "--v=1",
                ],
                lambda: _tcp_open(str(network.API_SERVICE_IP), 443),
            ),
            Component(
                "coredns",
                [str(b / "coredns"), "-conf", str(corefile)],
                lambda: _http_ok(DNS_READY_URL),
            ),
        ]  # fmt: skip

    def _node_ready(self, admin: Path) -> bool:
        done = subprocess.run(
            [str(self.bin / "kubectl"), "--kubeconfig", str(admin), "get", "node", NODE_NAME,
             "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return done.stdout.strip() == "True"

    # -- running ---------------------------------------------------------------

    def _start(self, component: Component) -> None:
        log_file = (self.layout.logs / f"{component.name}.log").open("ab")
        log.info("starting %s", component.name)
        component.process = subprocess.Popen(
            component.argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not component.ready():
            if component.process.poll() is not None:
                raise RuntimeError(
                    f"{component.name} exited with {component.process.returncode}: "
                    f"see {self.layout.logs / (component.name + '.log')}"
                )
            if time.monotonic() > deadline or self.stopping.is_set():
                raise RuntimeError(f"{component.name} was not ready within {START_TIMEOUT:.0f}s")
            time.sleep(0.3)
        log.info("%s is ready", component.name)

    def start(self) -> None:
        """Start every component in order; the ready marker once all are serving."""
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        self.layout.pods.mkdir(parents=True, exist_ok=True)
        self.components = self._plan(self._identities())
        for component in self.components:
            self._start(component)
        self.layout.ready_marker.write_text(f"{time.time()}\n")

    def restart(self, name: str, pause: float = 0.0) -> None:
        """Stop one component and start it again ``pause`` seconds later (fault tests)."""
        component = next(c for c in self.components if c.name == name)
        self._stop(component)
        time.sleep(pause)
        self._start(component)

    def _stop(self, component: Component, grace: float = 15.0) -> None:
        process = component.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(FileNotFoundError):
            self.layout.ready_marker.unlink()
        for component in reversed(self.components):
            self._stop(component)

    def watch(self) -> None:
        """Block until SIGTERM, logging components that die (and restarting them)."""
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self._restart_requested.set())
        while not self.stopping.wait(1.0):
            if self._restart_requested.is_set():
                self._restart_requested.clear()
                self._restart_from_file()
            for component in self.components:
                if component.process is not None and component.process.poll() is not None:
                    log.warning(
                        "%s exited with %s; restarting",
                        component.name,
                        component.process.returncode,
                    )
                    with contextlib.suppress(RuntimeError):
                        self._start(component)

    _restart_requested = threading.Event()

    def _restart_from_file(self) -> None:
        request = self.layout.root / "restart"
        with contextlib.suppress(FileNotFoundError):
            # "NAME" or "NAME SECONDS": which component, and how long it stays down.
            name, _, pause = request.read_text().strip().partition(" ")
            request.unlink()
            log.info("restarting %s on request", name)
            self.restart(name, float(pause or 0))
            (self.layout.root / "restarted").write_text(f"{name}\n")


def supervise(layout: Layout) -> int:
    """The supervisor's main: start, write the pid, watch, stop."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.supervisor_pid.write_text(f"{os.getpid()}\n")
    plane = ControlPlane(layout)
    try:
        plane.start()
        plane.watch()
    except Exception as error:
        log.error("the cluster could not start: %s", error)
        (layout.root / "failed").write_text(f"{error}\n")
        plane.stop()
        return 1
    plane.stop()
    return 0
