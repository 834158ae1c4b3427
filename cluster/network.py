"""Network namespaces: one for the cluster (bridge, service route), one per pod.

The cluster namespace holds the control plane, a bridge for the pod range and a
local route for the service range, as a node with the CNI bridge plugin has; each pod
gets a namespace of its own joined to that bridge by a veth pair. Nothing here routes
out of these namespaces.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import subprocess
from pathlib import Path

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
GATEWAY = ipaddress.ip_address("10.244.0.1")
#: The ``kubernetes`` Service's ClusterIP: the first address of the service range.
API_SERVICE_IP = ipaddress.ip_address("10.96.0.1")
BRIDGE = "cbr0"
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000


def run(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run a command, inside ``netns`` when given; its stdout."""
    command = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def inode(netns: str) -> int | None:
    """The namespace's inode: what ``/proc/PID/ns/net`` of its processes points at."""
    try:
        return (NETNS_DIR / netns).stat().st_ino
    except OSError:
        return None


def create_cluster(netns: str) -> None:
    """The cluster namespace: loopback, the bridge at the gateway, the service route."""
    if exists(netns):
        delete(netns)
    run("ip", "netns", "add", netns)
    run("ip", "link", "set", "lo", "up", netns=netns)
    run("ip", "link", "add", BRIDGE, "type", "bridge", netns=netns)
    run("ip", "addr", "add", f"{GATEWAY}/{POD_CIDR.prefixlen}", "dev", BRIDGE, netns=netns)
    run("ip", "link", "set", BRIDGE, "up", netns=netns)
    run("ip", "route", "add", "local", str(SERVICE_CIDR), "dev", "lo", netns=netns)
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=netns)


def create_pod(cluster_netns: str, pod_netns: str, address: str, veth: str) -> None:
    """A pod namespace with ``eth0`` at ``address`` on the cluster bridge."""
    if exists(pod_netns):
        delete(pod_netns)
    run("ip", "netns", "add", pod_netns)
    peer = f"{veth}p"
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer, netns=cluster_netns)
    run("ip", "link", "set", peer, "netns", pod_netns, netns=cluster_netns)
    run("ip", "link", "set", veth, "master", BRIDGE, netns=cluster_netns)
    run("ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on", netns=cluster_netns)
    run("ip", "link", "set", veth, "up", netns=cluster_netns)
    run("ip", "link", "set", "lo", "up", netns=pod_netns)
    run("ip", "link", "set", peer, "name", "eth0", netns=pod_netns)
    run("ip", "addr", "add", f"{address}/{POD_CIDR.prefixlen}", "dev", "eth0", netns=pod_netns)
    run("ip", "link", "set", "eth0", "up", netns=pod_netns)
    run("ip", "route", "add", "default", "via", str(GATEWAY), netns=pod_netns)
    # A neighbour entry left by an earlier pod at this address would misdirect replies.
    run("ip", "neigh", "flush", "to", address, netns=cluster_netns, check=False)


def delete(netns: str) -> None:
    """Remove a namespace (its veth goes with it); nothing when it is not there."""
    if exists(netns):
        run("ip", "netns", "delete", netns, check=False)


def names(prefix: str) -> list[str]:
    """The named namespaces starting with ``prefix``."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(entry.name for entry in NETNS_DIR.iterdir() if entry.name.startswith(prefix))


def enter(netns: str) -> None:
    """Move the calling thread (and the threads and processes it starts) into ``netns``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
    finally:
        os.close(fd)


def current_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def pids_in(inodes: set[int]) -> list[int]:
    """Every process whose network namespace is one of ``inodes``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "ns/net").stat().st_ino in inodes:
                found.append(int(entry.name))
        except OSError:
            continue
    return found
