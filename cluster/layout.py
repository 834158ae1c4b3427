"""Where a local cluster keeps its state, and the names it gives things."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAME = "sentiment"
NODE_NAME = "local-node"
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Layout:
    """The paths and names of one cluster (``LOCAL_CLUSTER_NAME``, default ``sentiment``)."""

    name: str
    root: Path

    @classmethod
    def default(cls) -> Layout:
        name = os.environ.get("LOCAL_CLUSTER_NAME", DEFAULT_NAME)
        root = Path(os.environ.get("LOCAL_CLUSTER_STATE", f"/run/local-cluster/{name}"))
        return cls(name=name, root=root)

    @property
    def netns(self) -> str:
        return f"{self.name}-cluster"

    @property
    def pod_netns_prefix(self) -> str:
        return f"{self.name}-pod-"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig that ``cluster-up`` prints."""
        return self.root / "admin.kubeconfig"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def ready_marker(self) -> Path:
        return self.root / "ready"

    @property
    def resolv_dir(self) -> Path:
        """``ip netns exec`` binds files from here over ``/etc`` (resolv.conf)."""
        return Path("/etc/netns") / self.netns
