"""The local cluster does what a user and the operator's tests rely on, end to end."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
from local_cluster import versions

from tests.support.kube import KubeCluster, wait_for

pytestmark = pytest.mark.integration

WEB_PORT = 8080
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def web(name: str, replicas: int = 2, **container: Any) -> list[dict[str, Any]]:
    """A Deployment of ``python3 -m http.server`` behind a Service."""
    labels = {"app": name}
    spec = {
        "name": "web",
        "image": "python:3.11-slim",
        "command": ["python3", "-m", "http.server", str(WEB_PORT)],
        "ports": [{"name": "http", "containerPort": WEB_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        **container,
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [spec]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    ]


def one_shot(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A pod that runs a Python snippet once."""
    container = {"name": "main", "image": "python:3.11-slim",
                 "command": ["python3", "-c", script], **extra.pop("container", {})}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **extra},
    }


def answers(url: str) -> int | None:
    """The HTTP status ``url`` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except OSError:
        return None


def phase(cluster: KubeCluster, namespace: str, name: str) -> str | None:
    pod = cluster.get("pod", name, namespace)
    return ((pod or {}).get("status") or {}).get("phase")


def finished(cluster: KubeCluster, namespace: str, name: str) -> str:
    def terminal() -> str | None:
        current = phase(cluster, namespace, name)
        return current if current in ("Succeeded", "Failed") else None

    return wait_for(terminal, timeout=60, what=f"pod {name} to finish")


def logs(cluster: KubeCluster, namespace: str, name: str) -> str:
    return cluster.kubectl("logs", "-n", namespace, name).stdout


def available(cluster: KubeCluster, namespace: str, name: str) -> bool:
    deployment = cluster.get("deployment", name, namespace) or {}
    status = deployment.get("status") or {}
    return bool(status.get("availableReplicas") == deployment["spec"]["replicas"])


def test_the_node_is_ready_and_kubectl_says_the_release(kube_cluster: KubeCluster) -> None:
    nodes = json.loads(kube_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == versions.KUBERNETES
    assert version["clientVersion"]["gitVersion"] == versions.KUBERNETES


def test_a_deployment_serves_through_its_cluster_ip_and_replaces_a_deleted_pod(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    kube_cluster.apply(*web("web"), namespace=namespace)
    wait_for(lambda: available(kube_cluster, namespace, "web"), timeout=90, what="web Available")
    pods = kube_cluster.list("pods", namespace, "app=web")
    addresses = {pod["status"]["podIP"] for pod in pods}
    assert len(addresses) == 2  # two servers on 0.0.0.0:8080, each in its own namespace

    cluster_ip = kube_cluster.get("service", "web", namespace)["spec"]["clusterIP"]  # type: ignore[index]
    # kube-proxy programs a new Service within a second or so of its endpoints.
    status = wait_for(lambda: answers(f"http://{cluster_ip}/"), timeout=30, what="the ClusterIP")
    assert status == 200

    victim = pods[0]["metadata"]["name"]
    kube_cluster.kubectl("delete", "pod", "-n", namespace, victim, "--wait=true")
    names = {p["metadata"]["name"] for p in kube_cluster.list("pods", namespace, "app=web")}
    assert victim not in names

    def replaced() -> bool:
        pods = kube_cluster.list("pods", namespace, "app=web")
        names = {p["metadata"]["name"] for p in pods}
        return available(kube_cluster, namespace, "web") and victim not in names

    wait_for(replaced, timeout=90, what="a replacement pod to become ready")


def test_pods_reach_services_by_dns_name_and_the_apiserver(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    kube_cluster.apply(*web("web", replicas=1), namespace=namespace)
    wait_for(lambda: available(kube_cluster, namespace, "web"), timeout=90, what="web Available")
    script = (
        "import urllib.request, ssl, time\n"
        "def get(url, **kw):\n"
        "    for _ in range(40):  # kube-proxy programs a new Service within a second or so\n"
        "        try:\n"
        "            return urllib.request.urlopen(url, **kw)\n"
        "        except urllib.error.URLError as e:\n"
        "            if isinstance(e, urllib.error.HTTPError):\n"
        "                raise\n"
        "            time.sleep(0.5)\n"
        "    return urllib.request.urlopen(url, **kw)\n"
        "print(get('http://web/', timeout=5).status)\n"
        f"print(get('http://web.{namespace}.svc.cluster.local/', timeout=5).status)\n"
        f"ctx = ssl.create_default_context(cafile='{TOKEN_DIR}/ca.crt')\n"
        "try:\n"
        "    get('https://kubernetes.default.svc/readyz', timeout=5, context=ctx)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print('apiserver', e.code)\n"
        "else:\n"
        "    print('apiserver', 200)\n"
    )
    kube_cluster.apply(one_shot("client", script), namespace=namespace)
    assert finished(kube_cluster, namespace, "client") == "Succeeded", logs(
        kube_cluster, namespace, "client"
    )
    lines = logs(kube_cluster, namespace, "client").split()
    assert lines[:2] == ["200", "200"]
    assert lines[2] == "apiserver"
    assert lines[3] in ("200", "401", "403")  # reached and answered with TLS it trusts


def test_containers_run_unprivileged_on_a_read_only_root_with_writable_volumes(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    script = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "for path in ('/etc/probe-file', '/scratch/file'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'writable')\n"
        "    except OSError as e:\n"
        "        print(path, 'refused', e.errno)\n"
        "print(open('/secret/token').read())\n"
        "print(os.environ['FROM_SECRET'], os.environ['POD_NAME'], os.environ['LITERAL'])\n"
    )
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"token": base64.b64encode(b"s3cret").decode()},
    }  # fmt: skip
    pod = one_shot(
        "identity", script,
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}},
                 {"name": "secret", "secret": {"secretName": "creds"}}],
        container={
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                             {"name": "secret", "mountPath": "/secret", "readOnly": True}],
            "env": [
                {"name": "FROM_SECRET",
                 "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "LITERAL", "value": "$(POD_NAME)-x"},
            ],
        },
    )  # fmt: skip
    pod_as_user = one_shot(
        "as-user", "import os; print(os.getuid(), os.getgid())",
        securityContext={"runAsUser": 10001, "runAsGroup": 10001},
    )  # fmt: skip
    kube_cluster.apply(secret, pod, pod_as_user, namespace=namespace)
    assert finished(kube_cluster, namespace, "identity") == "Succeeded", logs(
        kube_cluster, namespace, "identity"
    )
    out = logs(kube_cluster, namespace, "identity").splitlines()
    assert out[0] == "65534 65534"  # named no user: nobody, never the host's root
    assert out[1] == "/etc/probe-file refused 30"  # EROFS
    assert out[2] == "/scratch/file writable"
    assert out[3] == "s3cret"
    assert out[4] == "s3cret identity identity-x"
    assert finished(kube_cluster, namespace, "as-user") == "Succeeded"
    assert logs(kube_cluster, namespace, "as-user").strip() == "10001 10001"


def test_an_image_that_cannot_run_here_waits_with_err_image_pull(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.29"}]},
    }  # fmt: skip
    kube_cluster.apply(pod, namespace=namespace)

    def waiting() -> dict[str, Any] | None:
        statuses = ((kube_cluster.get("pod", "nginx", namespace) or {}).get("status") or {}).get(
            "containerStatuses"
        ) or []
        state = statuses[0]["state"].get("waiting") if statuses else None
        return state if state and state.get("reason") == "ErrImagePull" else None

    state = wait_for(waiting, timeout=30, what="ErrImagePull")
    assert "nginx:1.29" in state["message"]


def test_liveness_failures_restart_and_exit_codes_are_reported(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "flaky"},
        "spec": {"containers": [{
            "name": "main", "image": "busybox",
            "command": ["python3", "-c", "import time; time.sleep(3600)"],
            "livenessProbe": {"exec": {"command": ["false"]},
                              "periodSeconds": 1, "failureThreshold": 2},
        }]},
    }  # fmt: skip
    crash = one_shot("crash", "import sys; sys.exit(3)")
    kube_cluster.apply(pod, crash, namespace=namespace)

    def restarts() -> int:
        statuses = ((kube_cluster.get("pod", "flaky", namespace) or {}).get("status") or {}).get(
            "containerStatuses"
        ) or [{}]
        return int(statuses[0].get("restartCount", 0))

    wait_for(lambda: restarts() >= 1, timeout=60, what="a restart after failed liveness probes")
    assert finished(kube_cluster, namespace, "crash") == "Failed"
    status = kube_cluster.get("pod", "crash", namespace)["status"]  # type: ignore[index]
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    ignores_term = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('got SIGTERM', flush=True))\n"
        "print('started', flush=True)\n"
        "time.sleep(3600)\n"
    )
    pod = one_shot("stubborn", ignores_term, terminationGracePeriodSeconds=3)
    pod["spec"]["restartPolicy"] = "Always"
    kube_cluster.apply(pod, namespace=namespace)
    wait_for(
        lambda: phase(kube_cluster, namespace, "stubborn") == "Running", timeout=60, what="running"
    )
    wait_for(
        lambda: "started" in logs(kube_cluster, namespace, "stubborn"), timeout=30, what="output"
    )
    kube_cluster.kubectl("delete", "pod", "-n", namespace, "stubborn", "--wait=true", timeout=60)
    assert kube_cluster.get("pod", "stubborn", namespace) is None
