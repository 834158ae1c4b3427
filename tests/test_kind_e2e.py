"""scripts/kind-e2e.sh without a cluster: its exit path, port-forward upkeep, pod choice, pins.

The script is sourced (it then defines its functions only) into a bash that finds stub
``kubectl`` and ``kind`` commands first on PATH, so nothing here reaches a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from local_cluster import versions

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
    # What the trap met in the failing run: the preflight failed before the resource,
    # the work folder or any port-forward existed.
    result = bash(
        "unset NAMESPACE RESOURCE MODEL_NAME WORK MLFLOW_PF_PID MODEL_PF_PID\n"
        "install_traps\n"
        'fail "docker is not on PATH"',
        env,
    )
    assert result.returncode == 1, result.stderr
    assert "unbound variable" not in result.stderr
    assert "FAILED: docker is not on PATH" in result.stderr
    assert "kind e2e FAILED (exit 1)" in result.stderr
    logs = Path(env["LOG_DIR"])
    for name in ("nodes.txt", "resources.txt", "events.txt", ".collected"):
        assert (logs / name).is_file(), name
    # The namespaces it knows without the resource; none named by an empty string.
    assert {p.name for p in logs.glob("describe-*")} == {
        "describe-mlflow.txt",
        "describe-sentiment-operator.txt",
    }
    made = calls(env)
    kubectl_calls = [call for call in made if call.startswith("kubectl ")]
    assert all(call.startswith("kubectl --context kind-sentiment ") for call in kubectl_calls)
    assert any("--request-timeout=30s" in call for call in made)
    assert "kind export logs" in "\n".join(made)


def test_failure_with_the_resource_read_collects_its_namespace_and_pod_logs(
    env: dict[str, str], tmp_path: Path
) -> None:
    stub(
        tmp_path / "bin",
        "kubectl",
        """#!/usr/bin/env bash
echo "kubectl $*" >>"$CALLS"
case "$*" in
  *"-n default get pods -o name"*) echo pod/imdb-abc ;;
  *"logs pod/imdb-abc"*"--previous"*) exit 1 ;;
  *"logs pod/imdb-abc"*) echo "model loaded" ;;
esac
""",
    )
    work = tmp_path / "tmp" / "kind-e2e.run"
    work.mkdir()
    (work / "pipeline.log").write_text("dvc repro\n")
    result = bash(f"install_traps\nNAMESPACE=default\nWORK={work}\nfalse", env)
    assert result.returncode == 1
    assert "error: line" in result.stderr  # the ERR trap names the failing command
    logs = Path(env["LOG_DIR"])
    assert (logs / "describe-default.txt").is_file()
    assert (logs / "logs-default-imdb-abc.txt").read_text() == "model loaded\n"
    assert not (logs / "logs-default-imdb-abc-previous.txt").exists()
    assert (logs / "pipeline.log").read_text() == "dvc repro\n"
    assert not work.exists(), "the exit path removes the work folder"


def test_interrupted_run_only_cleans_up(env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "tmp" / "kind-e2e.run"
    work.mkdir()
    result = bash(f"install_traps\nWORK={work}\nkill -TERM $$\nsleep 5", env)
    assert result.returncode == 143
    assert "scripts/kind-e2e.sh diagnostics" in result.stderr
    assert not Path(env["LOG_DIR"]).exists()
    assert not work.exists()


def test_diagnostics_command_collects_once(env: dict[str, str], tmp_path: Path) -> None:
    assert BASH is not None
    work = tmp_path / "tmp" / "kind-e2e.killed"
    work.mkdir()
    (work / "port-forward-mlflow.log").write_text("Forwarding from 127.0.0.1:5000\n")
    first = subprocess.run(
        [BASH, str(SCRIPT), "diagnostics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    logs = Path(env["LOG_DIR"])
    assert (logs / ".collected").is_file()
    assert (logs / "port-forward-mlflow.log").is_file()
    if (ROOT / ".venv" / "bin" / "python").exists():
        # The resource's namespace, read from examples/sentimentmodel-kind.yaml.
        assert (logs / "describe-default.txt").is_file()
    made = len(calls(env))
    second = subprocess.run(
        [BASH, str(SCRIPT), "diagnostics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0
    assert "already" in second.stdout
    assert len(calls(env)) == made


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ensure_port_forward_keeps_a_live_one_and_restarts_a_dead_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    # kubectl port-forward stands in as an HTTP server on the local port that serves /health.
    served = tmp_path / "served"
    served.mkdir()
    (served / "health").write_text("OK")
    stub(
        tmp_path / "bin",
        "kubectl",
        f"""#!/usr/bin/env bash
echo "kubectl $*" >>"$CALLS"
for arg in "$@"; do
  case $arg in *:*[0-9]) port=${{arg%%:*}} ;; esac
done
exec {sys.executable} -m http.server "$port" --bind 127.0.0.1 --directory {served}
""",
    )
    port = free_port()
    work = tmp_path / "tmp" / "work"
    work.mkdir()
    result = bash(
        f"""WORK={work}
MLFLOW_PORT={port}
ensure_mlflow
first=$MLFLOW_PF_PID
ensure_mlflow
kept=$MLFLOW_PF_PID
kill "$first"; wait "$first" 2>/dev/null || true
ensure_mlflow
echo "$first $kept $MLFLOW_PF_PID"
stop "$MLFLOW_PF_PID"
""",
        env,
    )
    assert result.returncode == 0, result.stderr
    first, kept, restarted = result.stdout.split()
    assert kept == first
    assert restarted != first
    assert "starting it again" in result.stderr
    forwards = [call for call in calls(env) if "port-forward" in call]
    assert len(forwards) == 2
    assert f"-n mlflow port-forward --address 127.0.0.1 service/mlflow {port}:5000" in forwards[0]


def pod(name: str, version: str, *, ready: bool, terminating: bool = False) -> dict[str, object]:
    metadata: dict[str, object] = {
        "name": name,
        "labels": {"app.kubernetes.io/instance": "imdb", "app.kubernetes.io/version": version},
    }
    if terminating:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "spec": {
            "containers": [
                {"name": "model-server", "ports": [{"name": "http", "containerPort": 8080}]}
            ]
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_serving_pod_is_a_ready_running_pod_of_the_version(
    env: dict[str, str], tmp_path: Path
) -> None:
    pods = {
        "items": [
            pod("imdb-2-starting", "2", ready=False),
            pod("imdb-2-leaving", "2", ready=True, terminating=True),
            pod("imdb-2-ready", "2", ready=True),
        ]
    }
    (tmp_path / "pods.json").write_text(json.dumps(pods))
    stub(
        tmp_path / "bin",
        "kubectl",
        f"""#!/usr/bin/env bash
echo "kubectl $*" >>"$CALLS"
cat {tmp_path / "pods.json"}
""",
    )
    code = f"PY={sys.executable}\nNAMESPACE=default\nRESOURCE=imdb\nserving_pod 2"
    result = bash(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imdb-2-ready 8080\n"
    (call,) = calls(env)
    selector = "app.kubernetes.io/instance=imdb,app.kubernetes.io/version=2"
    assert f"-n default get pods -l {selector}" in call

    (tmp_path / "pods.json").write_text(json.dumps({"items": pods["items"][:2]}))
    assert bash(code, env).returncode == 1


def test_service_routes_to_reads_ready_endpoints(env: dict[str, str], tmp_path: Path) -> None:
    slices = {
        "items": [
            {
                "endpoints": [
                    {"targetRef": {"name": "imdb-1-old"}, "conditions": {"ready": False}},
                    {"targetRef": {"name": "imdb-2-new"}, "conditions": {"ready": True}},
                ]
            },
            {"endpoints": None},
        ]
    }
    (tmp_path / "slices.json").write_text(json.dumps(slices))
    stub(tmp_path / "bin", "kubectl", f"#!/usr/bin/env bash\ncat {tmp_path / 'slices.json'}\n")
    setup = f"PY={sys.executable}\nNAMESPACE=default\nRESOURCE=imdb\n"
    assert bash(setup + "service_routes_to imdb-2-new", env).returncode == 0
    assert bash(setup + "service_routes_to imdb-1-old", env).returncode == 1


def test_fetch_once_downloads_once_into_the_cache(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "aclImdb_v1.tar.gz"
    source.write_bytes(b"archive")
    env = env | {"DOWNLOAD_CACHE": str(tmp_path / "cache")}
    first = bash(f"fetch_once file://{source}", env)
    assert first.returncode == 0, first.stderr
    cached = Path(first.stdout.strip())
    assert cached.name == "aclImdb_v1.tar.gz"  # the suffix tells ingest it is the archive
    assert cached.read_bytes() == b"archive"
    assert cached.is_relative_to(tmp_path / "cache")
    source.unlink()
    again = bash(f"fetch_once file://{source}", env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(cached)


def test_fetch_once_retries_every_error_and_fails_loudly(
    env: dict[str, str], tmp_path: Path
) -> None:
    stub(tmp_path / "bin", "curl", '#!/usr/bin/env bash\necho "curl $*" >>"$CALLS"\nexit 56\n')
    env = env | {"DOWNLOAD_CACHE": str(tmp_path / "cache")}
    result = bash("fetch_once https://example.org/data/aclImdb_v1.tar.gz?x=1", env)
    assert result.returncode == 56
    (call,) = calls(env)
    for flag in ("--fail", "--retry 5", "--retry-all-errors", "--output "):
        assert flag in call
    assert not list((tmp_path / "cache").rglob("aclImdb_v1.tar.gz"))


def test_crd_versions_come_from_cluster_versions(env: dict[str, str]) -> None:
    result = bash(
        f'PY={sys.executable}\nread_pins\necho "$SERVICE_MONITOR_CRD"\necho "$KEDA_CRDS"', env
    )
    assert result.returncode == 0, result.stderr
    service_monitors, keda = result.stdout.split()
    assert f"/prometheus-operator/{versions.PROMETHEUS_OPERATOR}/example/" in service_monitors
    assert keda.endswith(
        f"/download/{versions.KEDA}/keda-{versions.KEDA.removeprefix('v')}-crds.yaml"
    )
    # One place names them: not the script, not the workflow.
    for path in (SCRIPT, ROOT / ".github" / "workflows" / "ci.yaml"):
        text = path.read_text()
        assert versions.KEDA.removeprefix("v") not in text, path
        assert versions.PROMETHEUS_OPERATOR.removeprefix("v") not in text, path
    # The README's walk-through installs the same CRDs.
    readme = (ROOT / "README.md").read_text()
    assert service_monitors in readme
    assert keda in readme


def test_kind_job_timeouts_leave_room_for_the_diagnostics() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yaml").read_text())
    job = workflow["jobs"]["kind"]
    steps = job["steps"]
    assert all("timeout-minutes" in step for step in steps), "every step has its own timeout"
    # Above the sum: a hanging step times out by itself, so the job is never cut short
    # before the diagnostics steps run.
    assert job["timeout-minutes"] > sum(step["timeout-minutes"] for step in steps)
    loop = next(i for i, step in enumerate(steps) if step.get("run") == "scripts/kind-e2e.sh")
    after = steps[loop + 1 :]
    assert [step.get("run") for step in after if "run" in step] == [
        "scripts/kind-e2e.sh diagnostics"
    ]
    # A step timeout is a failure, a job timeout or a cancel is not: both are named.
    assert all(step["if"] == "failure() || cancelled()" for step in after)
