"""scripts/kind-e2e.sh without a cluster: its exit path, images, routes, and the hooks
that let ``pytest -m e2e`` run on the cluster it made.

The script is sourced (it then defines its functions only) into a bash that finds stub
``kubectl``, ``kind``, ``docker`` and ``ip`` commands first on PATH, so nothing here
reaches a cluster or changes a route.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from local_cluster import versions

from tests.support import kube, processes

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "kind-e2e.sh"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# kubectl that answers nothing: the cluster does not exist yet (an early failure).
NO_CLUSTER = """#!/usr/bin/env bash
echo "kubectl $*" >>"$CALLS"
echo 'error: context "kind-sentiment" does not exist' >&2
exit 1
"""
KIND = """#!/usr/bin/env bash
echo "kind $*" >>"$CALLS"
exit 1
"""


def stub(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with stub kubectl and kind, logs and temporary files under tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "kubectl", NO_CLUSTER)
    stub(bin_dir, "kind", KIND)
    # Not root: the script's sudo must reach the stub ip, never the real one.
    stub(bin_dir, "sudo", '#!/usr/bin/env bash\nexec "$@"\n')
    (tmp_path / "tmp").mkdir()
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "LOG_DIR": str(tmp_path / "logs"),
        "CALLS": str(tmp_path / "calls"),
    }


def bash(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run CODE in a bash that sourced the script under ``set -Eeuo pipefail``."""
    assert BASH is not None
    program = f"set -Eeuo pipefail\nsource {SCRIPT}\n{code}\n"
    return subprocess.run(
        [BASH, "-c", program], env=env, capture_output=True, text=True, timeout=timeout
    )


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


def test_script_parses_and_sourcing_runs_nothing(env: dict[str, str]) -> None:
    assert BASH is not None
    subprocess.run([BASH, "-n", str(SCRIPT)], check=True)
    result = bash("echo sourced", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sourced\n"
    assert calls(env) == []


def test_early_failure_collects_diagnostics_with_nothing_set(env: dict[str, str]) -> None:
    # The preflight failed before the work folder or any route existed.
    result = bash('unset WORK\ninstall_traps\nfail "docker is not on PATH"', env)
    assert result.returncode == 1, result.stderr
    assert "unbound variable" not in result.stderr
    assert "FAILED: docker is not on PATH" in result.stderr
    assert "kind e2e FAILED (exit 1)" in result.stderr
    logs = Path(env["LOG_DIR"])
    for name in ("nodes.txt", "resources.txt", "events.txt", ".collected"):
        assert (logs / name).is_file(), name
    # The test's namespace and the operator's.
    assert {p.name for p in logs.glob("describe-*")} == {
        "describe-reviews.txt",
        "describe-sentiment-operator.txt",
    }
    made = calls(env)
    kubectl_calls = [call for call in made if call.startswith("kubectl ")]
    assert all(call.startswith("kubectl --context kind-sentiment ") for call in kubectl_calls)
    assert any("--request-timeout=30s" in call for call in made)
    assert "kind export logs" in "\n".join(made)
    assert not any(call.startswith("ip ") for call in made), "no route was added, none removed"


def test_a_failing_test_leaves_its_log_pod_logs_and_no_routes(
    env: dict[str, str], tmp_path: Path
) -> None:
    stub(
        tmp_path / "bin",
        "kubectl",
        """#!/usr/bin/env bash
echo "kubectl $*" >>"$CALLS"
case "$*" in
  *"-n reviews get pods -o name"*) echo pod/imdb-abc ;;
  *"logs pod/imdb-abc"*"--previous"*) exit 1 ;;
  *"logs pod/imdb-abc"*) echo "model loaded" ;;
esac
""",
    )
    stub(tmp_path / "bin", "ip", IP)
    work = tmp_path / "tmp" / "kind-e2e.run"
    work.mkdir()
    (work / "pytest.log").write_text("1 failed\n")
    script = f"install_traps\nWORK={work}\nroute 10.96.0.0/16 172.18.0.2\nfalse"
    result = bash(script, env)
    assert result.returncode == 1
    assert "error: line" in result.stderr  # the ERR trap names the failing command
    logs = Path(env["LOG_DIR"])
    assert (logs / "describe-reviews.txt").is_file()
    assert (logs / "logs-reviews-imdb-abc.txt").read_text() == "model loaded\n"
    assert not (logs / "logs-reviews-imdb-abc-previous.txt").exists()
    assert (logs / "pytest.log").read_text() == "1 failed\n"
    assert not work.exists(), "the exit path removes the work folder"
    routes = [call for call in calls(env) if call.startswith("ip ")]
    assert routes == ["ip route replace 10.96.0.0/16 via 172.18.0.2", "ip route del 10.96.0.0/16"]


def test_interrupted_run_only_cleans_up(env: dict[str, str], tmp_path: Path) -> None:
    stub(tmp_path / "bin", "ip", IP)
    work = tmp_path / "tmp" / "kind-e2e.run"
    work.mkdir()
    script = f"install_traps\nWORK={work}\nroute 10.244.0.0/16 172.18.0.2\nkill -TERM $$\nsleep 5"
    result = bash(script, env)
    assert result.returncode == 143
    assert "scripts/kind-e2e.sh diagnostics" in result.stderr
    assert not Path(env["LOG_DIR"]).exists()
    assert not work.exists()
    assert "ip route del 10.244.0.0/16" in calls(env)


def test_diagnostics_command_collects_once(env: dict[str, str], tmp_path: Path) -> None:
    assert BASH is not None
    work = tmp_path / "tmp" / "kind-e2e.killed"
    work.mkdir()
    (work / "pytest.log").write_text("collected 1 item\n")
    first = subprocess.run(
        [BASH, str(SCRIPT), "diagnostics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    logs = Path(env["LOG_DIR"])
    assert (logs / ".collected").is_file()
    assert (logs / "pytest.log").is_file()
    made = len(calls(env))
    second = subprocess.run(
        [BASH, str(SCRIPT), "diagnostics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0
    assert "already" in second.stdout
    assert len(calls(env)) == made


# `ip` that records what it was asked.
IP = """#!/usr/bin/env bash
echo "ip $*" >>"$CALLS"
"""


def test_the_images_are_the_ones_deploy_names(env: dict[str, str], tmp_path: Path) -> None:
    kustomization = yaml.safe_load((ROOT / "deploy/base/kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    operator = f"{entry['newName']}:{entry['newTag']}"
    server = operator.replace("/operator:", "/model-server:")
    # What `kubectl kustomize deploy/` prints, reduced to the operator's Deployment.
    deployment = {
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{
            "image": operator,
            "env": [{"name": "SENTIMENT_DEFAULT_SERVER_IMAGE", "value": server}],
        }]}}},
    }  # fmt: skip
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all([{"kind": "Namespace"}, deployment]))
    stub(tmp_path / "bin", "kubectl", f"#!/usr/bin/env bash\ncat {rendered}\n")
    result = bash(f"PY={sys.executable}\nimages", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [operator, server]


def test_the_routed_subnets_are_the_clusters_and_the_host_is_the_ipv4_gateway(
    env: dict[str, str], tmp_path: Path
) -> None:
    stub(
        tmp_path / "bin",
        "docker",
        """#!/usr/bin/env bash
case "$*" in
  "network inspect kind"*) echo "fc00:f853:ccd:e793::1 172.18.0.1 " ;;
  "inspect"*"sentiment-control-plane") echo 172.18.0.2 ;;
esac
""",
    )
    result = bash(f"PY={sys.executable}\nsubnets\nhost_address\nnode_address", env)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((ROOT / "examples/kind-cluster.yaml").read_text())["networking"]
    assert result.stdout.split() == [
        config["serviceSubnet"], config["podSubnet"], "172.18.0.1", "172.18.0.2",
    ]  # fmt: skip


def test_the_session_uses_the_cluster_e2e_kubeconfig_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "kubectl", "#!/usr/bin/env bash\nexit 0\n")
    kubeconfig = tmp_path / "kind.kubeconfig"
    kubeconfig.write_text("{}")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(kube.EXISTING_KUBECONFIG_ENV, str(kubeconfig))
    monkeypatch.setenv(processes.HOST_ADDRESS_ENV, "172.18.0.1")
    cluster = kube.start_cluster()
    assert (cluster.kubeconfig, cluster.kubectl_path) == (kubeconfig, bin_dir / "kubectl")
    assert cluster.layout is None  # not the local cluster: nothing to start or stop
    kube.stop_cluster(cluster)
    assert cluster.env()["KUBECONFIG"] == str(kubeconfig)
    assert processes.reachable_host() == ("0.0.0.0", "172.18.0.1")
    monkeypatch.delenv(processes.HOST_ADDRESS_ENV)
    assert processes.reachable_host()[1] != "172.18.0.1"


def test_the_kind_job_runs_what_make_e2e_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (recipe,) = [line.strip() for line in makefile.split("\ne2e:")[1].splitlines()[1:2]]
    assert recipe == "$(BIN)/python -m pytest -m e2e"
    assert '"$PY" -m pytest -m e2e 2>&1' in SCRIPT.read_text()


def test_kind_job_timeouts_leave_room_for_the_diagnostics() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yaml").read_text())
    job = workflow["jobs"]["kind"]
    steps = job["steps"]
    assert all("timeout-minutes" in step for step in steps), "every step has its own timeout"
    # Above the sum: a hanging step times out by itself, so the job is never cut short
    # before the diagnostics steps run.
    assert job["timeout-minutes"] > sum(step["timeout-minutes"] for step in steps)
    loop = next(i for i, step in enumerate(steps) if step.get("run") == "scripts/kind-e2e.sh")
    before = steps[:loop]
    # The test needs Go (the CRDs come from Go modules) and Prometheus.
    assert any(step.get("uses", "").startswith("actions/setup-go@") for step in before)
    assert any("apt-get install" in step.get("run", "") and "prometheus" in step["run"]
               for step in before)  # fmt: skip
    after = steps[loop + 1 :]
    assert [step.get("run") for step in after if "run" in step] == [
        "scripts/kind-e2e.sh diagnostics"
    ]
    # A step timeout is a failure, a job timeout or a cancel is not: both are named.
    assert all(step["if"] == "failure() || cancelled()" for step in after)


def test_the_walk_through_installs_the_crds_at_the_pinned_versions() -> None:
    readme = (ROOT / "README.md").read_text()
    keda = versions.KEDA
    prometheus_operator = versions.PROMETHEUS_OPERATOR
    assert (
        f"/prometheus-operator/{prometheus_operator}/example/prometheus-operator-crd/"
        "monitoring.coreos.com_servicemonitors.yaml" in readme
    )
    assert f"/download/{keda}/keda-{keda.removeprefix('v')}-crds.yaml" in readme
    # One place names them: not the script, not the workflow.
    for path in (SCRIPT, ROOT / ".github" / "workflows" / "ci.yaml"):
        text = path.read_text()
        assert keda.removeprefix("v") not in text, path
        assert prometheus_operator.removeprefix("v") not in text, path
