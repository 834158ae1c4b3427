"""``cluster-up`` and ``cluster-down`` from the host's side."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from local_cluster import build, network
from local_cluster.layout import CLUSTER_DOMAIN, Layout

UP_TIMEOUT = 300.0
HOST_TOOLS = {"ip": "iproute2", "nft": "nftables", "unshare": "util-linux", "setpriv": "util-linux"}


class ClusterError(RuntimeError):
    """The cluster cannot be started or reached; the message says why in one line."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError(
            "the local cluster needs root (network namespaces, mounts, other uids): "
            "run it with sudo, or use kind on a machine with Docker"
        )


def install_host_tools() -> None:
    """Install the Debian packages the cluster uses, when apt-get can."""
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ClusterError(f"install these packages first: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _supervisor_pid(layout: Layout) -> int | None:
    try:
        pid = int(layout.supervisor_pid.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def is_up(layout: Layout) -> bool:
    """A supervisor is alive, its namespace exists, and it said the cluster is ready."""
    return (
        _supervisor_pid(layout) is not None
        and network.exists(layout.netns)
        and layout.ready_marker.is_file()
    )


def announce(layout: Layout) -> str:
    """The two lines ``cluster-up`` prints."""
    return f"NETNS={layout.netns}\nKUBECONFIG={layout.kubeconfig}\n"


def up(layout: Layout) -> None:
    """Start the cluster in the background and return once it serves."""
    require_root()
    if is_up(layout):
        return
    install_host_tools()
    build.ensure_built()
    down(layout)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    network.create_cluster(layout.netns)
    layout.resolv_dir.mkdir(parents=True, exist_ok=True)
    (layout.resolv_dir / "resolv.conf").write_text(
        f"nameserver {network.GATEWAY}\n"
        f"search svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\noptions ndots:5\n"
    )
    env = {
        **os.environ,
        "LOCAL_CLUSTER_NAME": layout.name,
        "LOCAL_CLUSTER_STATE": str(layout.root),
        "PYTHONPATH": os.pathsep.join(filter(None, [_import_root(), os.environ.get("PYTHONPATH")])),
    }
    log_file = (layout.logs / "supervisor.log").open("ab")
    # nsenter, not `ip netns exec`: the supervisor stays in the host's mount namespace, so
    # the pod namespaces the node agent adds (bind mounts under /run/netns) are visible
    # to `ip netns` and to `cluster-down` after a crash.
    netns_file = network.NETNS_DIR / layout.netns
    subprocess.Popen(
        ["nsenter", f"--net={netns_file}", "--", sys.executable, "-m", "local_cluster",
         "supervise"],
        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + UP_TIMEOUT
    while not layout.ready_marker.is_file():
        failed = layout.root / "failed"
        if failed.is_file():
            raise ClusterError(f"{failed.read_text().strip()} (logs: {layout.logs})")
        if time.monotonic() > deadline:
            raise ClusterError(f"not ready within {UP_TIMEOUT:.0f}s (logs: {layout.logs})")
        time.sleep(0.5)


def _unmount_under(folder: Path) -> None:
    """Unmount the pods' in-memory volumes that are still mounted (after a crash)."""
    prefix = str(folder.resolve()) + "/"
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def _import_root() -> str:
    """The folder from which ``local_cluster`` imports (the editable install's link tree)."""
    import local_cluster

    return str(Path(local_cluster.__file__).resolve().parent.parent)


def _ancestry(pid: int) -> set[int]:
    """``pid`` and every process above it, up to init."""
    chain = set()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        match = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
        pid = int(match.group(1)) if match else 0
    return chain


def down(layout: Layout) -> None:
    """Stop everything the cluster started and remove what it made; fine when nothing runs."""
    require_root()
    pid = _supervisor_pid(layout)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _supervisor_pid(layout) is not None and time.monotonic() < deadline:
            time.sleep(0.3)
    namespaces = [layout.netns, *network.names(layout.pod_netns_prefix)]
    inodes = {ino for ino in map(network.inode, namespaces) if ino is not None}
    # `down` may run from inside the cluster (a test session, `make cluster-shell`): the
    # caller and the shells above it are left alone and keep their now-empty namespace.
    spared = _ancestry(os.getpid())

    def victims() -> list[int]:
        return [pid for pid in network.pids_in(inodes) if pid not in spared]

    for signum in (signal.SIGTERM, signal.SIGKILL):
        for victim in victims():
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signum)
        deadline = time.monotonic() + 10
        while victims() and time.monotonic() < deadline:
            time.sleep(0.2)
    for netns in namespaces:
        network.delete(netns)
    shutil.rmtree(layout.resolv_dir, ignore_errors=True)
    for transient in ("ready", "failed", "supervisor.pid", "restart", "restarted"):
        with contextlib.suppress(FileNotFoundError):
            (layout.root / transient).unlink()
    _unmount_under(layout.pods)
    shutil.rmtree(layout.etcd_data, ignore_errors=True)
    shutil.rmtree(layout.pods, ignore_errors=True)
