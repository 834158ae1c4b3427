"""``cluster-up`` is idempotent and ``cluster-down`` leaves nothing behind, after a crash too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_cluster import build, network
from local_cluster.layout import Layout

from tests.support.kube import wait_for

pytestmark = pytest.mark.integration


def cli(
    *args: str, env: dict[str, str], inside: str | None = None
) -> subprocess.CompletedProcess[str]:
    enter = ["ip", "netns", "exec", inside] if inside else []
    return subprocess.run(
        [*enter, sys.executable, "-m", "local_cluster", *args],
        capture_output=True, text=True, env=env, timeout=400, check=False,
    )  # fmt: skip


def test_up_prints_two_lines_twice_and_down_removes_every_process_and_namespace(
    tmp_path: Path,
) -> None:
    # A second cluster of its own name, beside the one the other tests use.
    layout = Layout(name="lifecycle", root=tmp_path / "state")
    env = {**os.environ, "LOCAL_CLUSTER_NAME": layout.name, "LOCAL_CLUSTER_STATE": str(layout.root)}
    inode, pod_inodes = None, set()
    try:
        first = cli("up", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout == f"NETNS={layout.netns}\nKUBECONFIG={layout.kubeconfig}\n"
        again = cli("up", env=env)
        assert (again.returncode, again.stdout) == (0, first.stdout)
        assert network.exists(layout.netns)
        inode = network.inode(layout.netns)
        assert inode is not None
        assert network.pids_in({inode})

        kubectl = [
            "nsenter", f"--net=/run/netns/{layout.netns}", str(build.bin_dir() / "kubectl"),
            "--kubeconfig", str(layout.kubeconfig),
        ]  # fmt: skip
        pod = ["run", "sleeper", "--image=busybox", "--command", "--", "sleep", "600"]
        # Right after start the namespace's default ServiceAccount may not exist yet.
        wait_for(
            lambda: subprocess.run([*kubectl, *pod], capture_output=True, check=False).returncode
            == 0,
            timeout=60, what="the pod to be admitted",
        )  # fmt: skip

        def pod_netns_with_processes() -> set[int]:
            # Read afresh each time: `ip netns add` creates the file before it mounts the
            # namespace on it, and an inode read in between is the empty file's for good.
            inodes = {network.inode(n) or 0 for n in network.names(layout.pod_netns_prefix)}
            return inodes if network.pids_in(inodes) else set()

        pod_inodes = wait_for(pod_netns_with_processes, timeout=60, what="the pod's process")

        # A crash of the supervisor and the node agent: the pods run on, orphaned.
        for agent in subprocess.run(
            ["pgrep", "-f", f"local_cluster node-agent --kubeconfig {layout.root}"],
            capture_output=True, text=True, check=False,
        ).stdout.split():  # fmt: skip
            os.kill(int(agent), 9)
        os.kill(int(layout.supervisor_pid.read_text()), 9)
    finally:
        # From inside the cluster's namespace, as a test session or `make cluster-shell`
        # does: `down` must not kill its caller.
        inside = layout.netns if network.exists(layout.netns) else None
        down = cli("down", env=env, inside=inside)
    assert down.returncode == 0, (down.returncode, down.stderr)
    assert not network.exists(layout.netns)
    assert not network.names(layout.pod_netns_prefix)
    assert not network.pids_in({inode or 0, *pod_inodes})
    assert not (Path("/etc/netns") / layout.netns).exists()
    assert cli("down", env=env).returncode == 0
