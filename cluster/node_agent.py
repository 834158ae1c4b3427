"""The node agent: a Node that stays Ready, and the pods bound to it run as processes.

It registers the Node, renews its Lease and Ready condition every few seconds (without
them the node lifecycle controller taints the node and evicts its pods), watches the
pods bound to it and gives each a :class:`PodWorker`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import signal
import threading
from pathlib import Path
from typing import Any

from kubernetes import watch
from kubernetes.client.rest import ApiException
from local_cluster import log_server, network, versions
from local_cluster.api import Api
from local_cluster.layout import NODE_NAME, Layout
from local_cluster.pod_worker import PodWorker

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
LEASE_SECONDS = 40
REPO_ROOT = Path(__file__).resolve().parent.parent


def _micro_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def pod_folder(pod: dict[str, Any]) -> str:
    """``NAMESPACE_NAME_UID8``: what the log endpoint finds a pod's logs by."""
    meta = pod["metadata"]
    return f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"


class AddressPool:
    """Pod addresses from the pod range, handed out in turn (10.244.0.x is the node's).

    An address comes back only after the rest of the range has been used, as IPAM
    plugins do: a neighbour still caching the old pod's MAC must not meet its successor.
    """

    def __init__(self) -> None:
        self._range = [str(ip) for ip in network.POD_CIDR.hosts() if ip.packed[2] > 0]
        self._next = 0
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            for _ in self._range:
                address = self._range[self._next]
                self._next = (self._next + 1) % len(self._range)
                if address not in self._used:
                    self._used.add(address)
                    return address
        raise RuntimeError("the pod range is exhausted")

    def give_back(self, address: str) -> None:
        with self._lock:
            self._used.discard(address)


class NodeAgent:
    """Registers the node, keeps it alive, runs its pods."""

    def __init__(self, layout: Layout, kubeconfig: str) -> None:
        self.layout = layout
        self.api = Api(kubeconfig)
        self.addresses = AddressPool()
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- the node --------------------------------------------------------------

    def _conditions(self) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        healthy = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        return [
            {"type": kind, "status": status, "reason": reason, "message": reason,
             "lastHeartbeatTime": now, "lastTransitionTime": self.started_at}
            for kind, status, reason in healthy
        ]  # fmt: skip

    def register(self) -> None:
        self.started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        resources = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_kib()}Ki", "pods": "110",
                     "ephemeral-storage": "100Gi"}  # fmt: skip
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "spec": {"podCIDR": str(network.POD_CIDR), "podCIDRs": [str(network.POD_CIDR)]},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": self._conditions(),
                "addresses": [
                    {"type": "InternalIP", "address": str(network.GATEWAY)},
                    {"type": "Hostname", "address": NODE_NAME},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": "local", "systemUUID": "local", "bootID": "local",
                    "kernelVersion": platform.release(), "osImage": "local-cluster",
                    "containerRuntimeVersion": "local-cluster://process",
                    "kubeletVersion": versions.KUBERNETES, "kubeProxyVersion": versions.KUBERNETES,
                    "operatingSystem": "linux", "architecture": "amd64",
                },
            },
        }  # fmt: skip
        try:
            self.api.core.create_node(node)
        except ApiException as error:
            if error.status != 409:
                raise
        self.api.core.patch_node_status(NODE_NAME, {"status": node["status"]})
        log.info("node %s registered", NODE_NAME)

    def heartbeat(self) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NODE_NAME, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": NODE_NAME, "leaseDurationSeconds": LEASE_SECONDS},
        }
        while not self.stopping.is_set():
            try:
                lease["spec"]["renewTime"] = _micro_time()  # type: ignore[index]
                try:
                    self.api.coordination.patch_namespaced_lease(
                        NODE_NAME, "kube-node-lease", {"spec": lease["spec"]}
                    )
                except ApiException as error:
                    if error.status != 404:
                        raise
                    self.api.coordination.create_namespaced_lease("kube-node-lease", lease)
                self.api.core.patch_node_status(
                    NODE_NAME, {"status": {"conditions": self._conditions()}}
                )
            except ApiException as error:
                log.warning("heartbeat failed: %s %s", error.status, error.reason)
            except Exception as error:  # the apiserver may be restarting
                log.warning("heartbeat failed: %s", error)
            self.stopping.wait(HEARTBEAT_SECONDS)

    # -- pods ------------------------------------------------------------------

    def _seen(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and not pod[
                    "metadata"
                ].get("deletionTimestamp"):
                    return
                address = self.addresses.take()
                worker = PodWorker(
                    self.api, pod,
                    cluster_netns=self.layout.netns,
                    pod_netns=f"{self.layout.pod_netns_prefix}{uid[:8]}",
                    address=address,
                    pod_dir=self.layout.pods / pod_folder(pod),
                    repo_root=REPO_ROOT,
                    on_exit=self._finished,
                )  # fmt: skip
                self.workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    def _finished(self, worker: PodWorker) -> None:
        with self.lock:
            self.workers.pop(worker.uid, None)
        self.addresses.give_back(worker.address)

    def watch_pods(self) -> None:
        selector = f"spec.nodeName={NODE_NAME}"
        while not self.stopping.is_set():
            try:
                listed = self.api.core.list_pod_for_all_namespaces(field_selector=selector)
                present = set()
                for item in listed.items:
                    pod = self.api.plain(item)
                    present.add(pod["metadata"]["uid"])
                    self._seen(pod)
                with self.lock:
                    missing = [w for uid, w in self.workers.items() if uid not in present]
                for worker in missing:
                    worker.vanish()
                stream = watch.Watch().stream(
                    self.api.core.list_pod_for_all_namespaces, field_selector=selector,
                    resource_version=listed.metadata.resource_version, timeout_seconds=60,
                    _preload_content=False,
                )  # fmt: skip
                for event in stream:
                    pod = event["raw_object"]
                    if event["type"] == "DELETED":
                        with self.lock:
                            gone = self.workers.get(pod["metadata"]["uid"])
                        if gone:
                            gone.vanish()
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._seen(pod)
                    if self.stopping.is_set():
                        break
            except Exception as error:
                log.warning("pod watch: %s; relisting", error)
                self.stopping.wait(1)

    def run(self) -> None:
        pki = self.layout.pki
        log_server.serve(self.layout.pods, pki / "kubelet.crt", pki / "kubelet.key", pki / "ca.crt")
        self.register()
        threading.Thread(target=self.heartbeat, name="heartbeat", daemon=True).start()
        threading.Thread(target=self.watch_pods, name="pods", daemon=True).start()
        self.stopping.wait()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.vanish()
        for worker in workers:
            worker.join(timeout=35)


def run_agent(layout: Layout, kubeconfig: str) -> int:
    agent = NodeAgent(layout, kubeconfig)
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stopping.set())
    agent.run()
    return 0
