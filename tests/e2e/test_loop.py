"""The whole loop on the local Kubernetes cluster, with real parts only.

``kubectl apply -k deploy/`` installs the operator, which runs as a pod with its own
ServiceAccount; ``dvc repro`` trains and registers a model in a real MLflow server;
``promote`` points the alias ``champion`` at it; a SentimentModel makes the operator create
the children, Kubernetes runs the model server's pod from the Deployment and a client
reaches it through the Service's ClusterIP. A second version is trained and promoted
while a client polls the Service; the new ReplicaSet takes over, Prometheus scrapes the
pod and the ScaledObject's query answers. Deleting the resource lets the garbage
collector remove every child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sentiment_operator.kube import ObjectRef
from sentiment_operator.render.kinds import (
    CHILD_KINDS,
    SCALED_OBJECT,
    SERVICE,
    SERVICE_MONITOR,
    ChildKind,
)
from sentiment_operator.render.queries import MODEL_INFO

from tests.operator_integration.harness import (
    Cluster,
    model_spec,
    pinned,
    secret,
    wait_for,
)
from tests.support.mlflow_server import MlflowServer
from tests.support.pipeline import dvc_repro, fresh_clone, git, set_params
from tests.support.processes import free_port, reachable_host
from tests.support.prometheus import prometheus_server, static_scrape_config

pytestmark = pytest.mark.e2e

NAMESPACE = "reviews"
NAME = "imdb"
CREDENTIALS_SECRET = "mlflow-credentials"
SCRAPE_INTERVAL = "2s"
REVIEWS = (
    "A wonderful, moving film with a superb cast. I loved every minute of it.",
    "Dull, predictable and far too long; I wanted my money back.",
)
MAX_BURSTS = 60  # bursts of predictions until the trigger query sees traffic
BURST_SIZE = 10


def registered_version(clone: Path) -> str:
    """The version the pipeline's register stage reported."""
    version: str = json.loads((clone / "reports/registration.json").read_text())["version"]
    return version


def promote(tracking_uri: str, model: str, version: str) -> None:
    """``python -m training.promote``, as the user runs it."""
    command = [sys.executable, "-m", "training.promote", "--model", model]
    command += ["--version", version, "--alias", "champion"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"promote failed:\n{result.stdout}{result.stderr}"


def predict(url: str, text: str) -> dict[str, Any]:
    """POST one review to /predict, as ``curl`` would; the JSON answer."""
    response = requests.post(f"{url}/predict", json={"text": text}, timeout=60)
    assert response.status_code == 200, f"/predict answered {response.status_code}: {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


class Poller(threading.Thread):
    """A client polling the Service through a rollout, counting answers by version and failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.answers: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = requests.post(
                    f"{self.url}/predict", json={"text": REVIEWS[0]}, timeout=10
                )
                key = (
                    response.json()["model"]["version"]
                    if response.ok
                    else f"HTTP {response.status_code}"
                )
            except (requests.RequestException, ValueError, KeyError) as error:
                key = type(error).__name__
            self.answers[key] += 1
            time.sleep(0.05)

    @property
    def failures(self) -> int:
        return sum(n for key, n in self.answers.items() if not key.isdigit())


def deployment_pinned_to(cluster: Cluster, uri: str) -> dict[str, Any] | None:
    deployment = cluster.deployment(NAMESPACE, NAME)
    return deployment if pinned(deployment) == uri else None


def owned_children(cluster: Cluster) -> list[dict[str, Any]]:
    """Every object of a kind the operator renders that belongs to the SentimentModel."""
    found = []
    for kind in CHILD_KINDS:
        for item in cluster.api.list(kind.api_version, kind.kind, NAMESPACE) or []:
            # Kubernetes puts objects of its own here too (the kube-root-ca.crt ConfigMap).
            if item["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == NAME:
                found.append({"apiVersion": kind.api_version, "kind": kind.kind, **item})
    return found


def child(cluster: Cluster, kind: ChildKind) -> dict[str, Any] | None:
    """The operator's child of this kind, named after the SentimentModel."""
    return cluster.api.get(ObjectRef(kind.api_version, kind.kind, NAMESPACE, NAME))


def wait_for_child(cluster: Cluster, kind: ChildKind) -> dict[str, Any]:
    return wait_for(
        lambda: child(cluster, kind), timeout=60, what=f"the operator to create {kind.kind} {NAME}"
    )


def serving_pods(cluster: Cluster, version: str) -> list[dict[str, Any]]:
    pods = cluster.pods(NAMESPACE)
    return [p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/version") == version]


def test_train_promote_serve_promote_again_scale_and_delete(
    repo_root: Path,
    imdb_csv: Path,
    shared_mlflow: MlflowServer,
    installed_operator: Cluster,
    tmp_path: Path,
) -> None:
    cluster = installed_operator
    model = f"e2e-imdb-{uuid.uuid4().hex[:8]}"
    tracking_uri = shared_mlflow.url

    # 1. Train and register version 1 with the DVC pipeline, in a fresh clone.
    clone = fresh_clone(repo_root, tmp_path / "clone")
    set_params(
        clone,
        ingest={"source": str(imdb_csv), "max_rows": 2000},
        train={"ngram_max": 2, "hash_bits": 18, "min_df": 2},
        register={"model_name": model, "stage": "", "alias": ""},
    )
    git(clone, "commit", "-qam", "small sample, unique model name")
    dvc_repro(clone, tracking_uri)
    assert registered_version(clone) == "1", "the first dvc repro should register version 1"

    # 2. Point the alias champion at version 1.
    promote(tracking_uri, model, "1")

    # 3. Apply the SentimentModel; the operator creates the children, pinned to version 1.
    # A namespace of its own, fresh even after an interrupted run.
    cluster.kube.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", timeout=180)
    cluster.kube.create_namespace(NAMESPACE)
    cluster.api.create(
        secret(
            NAMESPACE,
            CREDENTIALS_SECRET,
            # The test MLflow server does not check them; the pods must still receive them.
            {"MLFLOW_TRACKING_USERNAME": "e2e", "MLFLOW_TRACKING_PASSWORD": "e2e-password"},
        )
    )
    # Prometheus starts once there is a pod to scrape; its address is handed out now.
    prometheus_port = free_port()
    prometheus_url = f"http://{reachable_host()[1]}:{prometheus_port}"
    spec = model_spec(
        tracking_uri,
        model,
        alias="champion",
        registry={"credentialsSecret": CREDENTIALS_SECRET},
        monitoring={"enabled": True, "interval": SCRAPE_INTERVAL},
        autoscaling={"enabled": True, "prometheus": {"serverAddress": prometheus_url}},
    )
    owner = cluster.create_model(NAMESPACE, NAME, spec)
    deployment = wait_for(
        lambda: deployment_pinned_to(cluster, f"models:/{model}/1"),
        timeout=90,
        what=f"the operator to create Deployment {NAME} pinned to models:/{model}/1",
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": CREDENTIALS_SECRET}} in container["envFrom"]
    for kind in (SERVICE, SERVICE_MONITOR, SCALED_OBJECT):
        wait_for_child(cluster, kind)

    # 4. Kubernetes runs the pod; the Service's ClusterIP answers with version 1.
    cluster.wait_rolled_out(NAMESPACE, NAME, timeout=240)
    service_ip = (cluster.service(NAMESPACE, NAME) or {})["spec"]["clusterIP"]
    port = (cluster.service(NAMESPACE, NAME) or {})["spec"]["ports"][0]["port"]
    url = f"http://{service_ip}:{port}"
    answer = predict(url, REVIEWS[0])
    assert answer["model"] == {"name": model, "version": "1"}, answer
    assert answer["predictions"][0]["label"] == "positive", answer
    wait_for(
        lambda: cluster.status(NAMESPACE, NAME).get("lastReadyVersion") == "1",
        timeout=60, what="status.lastReadyVersion to become 1",
    )  # fmt: skip

    # 5. Train version 2 (another regularisation) and promote it, a client polling throughout.
    set_params(clone, train={"classifier_c": 5.0})
    git(clone, "commit", "-qam", "less regularisation")
    dvc_repro(clone, tracking_uri)
    assert registered_version(clone) == "2", "the second dvc repro should register version 2"
    poller = Poller(url)
    poller.start()
    promote(tracking_uri, model, "2")

    # 6. The operator re-pins the Deployment; the new ReplicaSet takes over.
    deployment = wait_for(
        lambda: deployment_pinned_to(cluster, f"models:/{model}/2"),
        timeout=90, what=f"the operator to re-pin the Deployment to models:/{model}/2",
    )  # fmt: skip
    cluster.wait_rolled_out(NAMESPACE, NAME, timeout=240)
    wait_for(lambda: not serving_pods(cluster, "1"), timeout=120, what="no version 1 pod left")
    time.sleep(2)
    poller.stop.set()
    poller.join()
    print(f"answers through the rollout: {dict(poller.answers)}")
    assert poller.answers["1"], poller.answers
    assert poller.answers["2"], poller.answers
    assert poller.failures == 0, poller.answers  # old pods left the Service before stopping
    assert predict(url, REVIEWS[0])["model"]["version"] == "2"
    wait_for(
        lambda: cluster.status(NAMESPACE, NAME).get("lastReadyVersion") == "2",
        timeout=60, what="status.lastReadyVersion to become 2",
    )  # fmt: skip

    # 7. Prometheus scrapes the pod as the ServiceMonitor asks; the trigger query answers.
    service_monitor = wait_for_child(cluster, SERVICE_MONITOR)
    scaled_object = wait_for_child(cluster, SCALED_OBJECT)
    assert_wired(deployment, wait_for_child(cluster, SERVICE), service_monitor, scaled_object)
    (trigger,) = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "prometheus"]
    assert trigger["metadata"]["serverAddress"] == prometheus_url, trigger
    (pod,) = serving_pods(cluster, "2")
    with prometheus_server(
        tmp_path / "prometheus", [scrape_job(service_monitor, pod)], port=prometheus_port
    ) as prometheus:
        prometheus.wait_for(f'up{{namespace="{NAMESPACE}",service="{NAME}"}} == 1')
        query = trigger["metadata"]["query"]
        value = 0.0
        for burst in range(MAX_BURSTS):
            for index in range(BURST_SIZE):
                predict(url, REVIEWS[(burst + index) % len(REVIEWS)])
            values = prometheus.values(query)
            if values:
                assert len(values) == 1, f"KEDA needs one number from {query}: {values}"
                value = values[0]
                if value > 0:
                    break
            time.sleep(0.5)  # let a scrape or two land between bursts
        assert value > 0, f"{query} -> {value} after {MAX_BURSTS * BURST_SIZE} predictions"
        info = prometheus.query(f'{MODEL_INFO}{{namespace="{NAMESPACE}",service="{NAME}"}}')
        assert [sample["metric"].get("model_version") for sample in info] == ["2"], info

    # 8. Delete the SentimentModel: the garbage collector removes every child and pod.
    children = owned_children(cluster)
    assert {c["kind"] for c in children} >= {
        "Deployment", "Service", "ServiceMonitor", "ScaledObject",
    }, [c["kind"] for c in children]  # fmt: skip
    uid = owner["metadata"]["uid"]
    for remaining in children:
        controllers = [
            r for r in remaining["metadata"].get("ownerReferences") or [] if r.get("controller")
        ]
        assert [(r["kind"], r["name"], r["uid"]) for r in controllers] == [
            ("SentimentModel", NAME, uid)
        ]
    cluster.delete_models(NAMESPACE)
    wait_for(lambda: cluster.model(NAMESPACE, NAME) is None, timeout=60, what="the resource gone")
    wait_for(
        lambda: not owned_children(cluster) and not cluster.pods(NAMESPACE), timeout=120,
        what="the garbage collector to remove every child and pod",
    )  # fmt: skip
    cluster.kube.delete_namespace(NAMESPACE)


def assert_wired(
    deployment: dict[str, Any],
    service: dict[str, Any],
    service_monitor: dict[str, Any],
    scaled_object: dict[str, Any],
) -> None:
    """What a cluster follows: Service→pods, ServiceMonitor→Service, KEDA→Deployment."""
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector.items() <= pod_labels.items(), f"Service {selector} misses pods {pod_labels}"
    matched = service_monitor["spec"]["selector"]["matchLabels"]
    labels = service["metadata"]["labels"]
    assert matched.items() <= labels.items(), f"ServiceMonitor {matched} misses Service {labels}"
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in service_monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names, f"{endpoint} names no port of {port_names}"
    target = scaled_object["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def scrape_job(service_monitor: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The scrape job the Prometheus Operator makes of the ServiceMonitor, for one pod."""
    (endpoint,) = service_monitor["spec"]["endpoints"]
    container = pod["spec"]["containers"][0]
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == endpoint["port"]]
    labels = {
        "job": NAME,  # the Service's name
        "namespace": NAMESPACE,
        "service": NAME,
        "pod": pod["metadata"]["name"],
        "endpoint": endpoint["port"],
        "container": container["name"],
    }
    return static_scrape_config(
        f"serviceMonitor/{NAMESPACE}/{NAME}/0",
        f"{pod['status']['podIP']}:{port}",
        labels,
        interval=endpoint["interval"],
        path=endpoint["path"],
        honor=endpoint.get("honorLabels", False),
    )
