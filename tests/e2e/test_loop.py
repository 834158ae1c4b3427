"""The whole loop on one machine, with real parts only.

``dvc repro`` trains and registers a model in a real MLflow server; ``promote`` puts
it in the Production stage; the operator, running against the Kubernetes emulator,
creates the children; a small test kubelet starts the model server from the
Deployment's own container spec; a prediction names the version. Then a second
version is trained and promoted, the operator re-pins the Deployment, the new pod
serves it, Prometheus scrapes it and the ScaledObject's query answers. Deleting the
resource leaves nothing behind that a real cluster would not collect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
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
    OperatorProcess,
    model_spec,
    pinned,
    secret,
    wait_for,
)
from tests.support.kubelet import Pod, run_pod
from tests.support.mlflow_server import MlflowServer
from tests.support.pipeline import dvc_repro, fresh_clone, git, set_params
from tests.support.processes import free_port
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
    command += ["--version", version, "--stage", "Production"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"promote failed:\n{result.stdout}{result.stderr}"


def predict(pod: Pod, text: str) -> dict[str, Any]:
    """POST one review to /predict, as ``curl`` would; the JSON answer."""
    response = requests.post(f"{pod.url}/predict", json={"text": text}, timeout=60)
    assert response.status_code == 200, f"/predict answered {response.status_code}: {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


def deployment_pinned_to(cluster: Cluster, uri: str) -> dict[str, Any] | None:
    deployment = cluster.deployment(NAMESPACE, NAME)
    return deployment if pinned(deployment) == uri else None


def owned_children(cluster: Cluster) -> list[dict[str, Any]]:
    """Every object of a kind the operator renders, in the namespace."""
    found = []
    for kind in CHILD_KINDS:
        for item in cluster.api.list(kind.api_version, kind.kind, NAMESPACE) or []:
            found.append({"apiVersion": kind.api_version, "kind": kind.kind, **item})
    return found


def child(cluster: Cluster, kind: ChildKind) -> dict[str, Any] | None:
    """The operator's child of this kind, named after the SentimentModel."""
    return cluster.api.get(ObjectRef(kind.api_version, kind.kind, NAMESPACE, NAME))


def wait_for_child(cluster: Cluster, kind: ChildKind) -> dict[str, Any]:
    return wait_for(
        lambda: child(cluster, kind), timeout=60, what=f"the operator to create {kind.kind} {NAME}"
    )


def test_train_promote_serve_promote_again_scale_and_delete(
    repo_root: Path,
    imdb_csv: Path,
    shared_mlflow: MlflowServer,
    e2e_cluster: Cluster,
    e2e_operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    cluster = e2e_cluster
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

    # 2. Promote version 1 to Production.
    promote(tracking_uri, model, "1")

    # 3. Apply the SentimentModel; the operator creates the children, pinned to version 1.
    cluster.api.create(
        secret(
            NAMESPACE,
            CREDENTIALS_SECRET,
            # The test MLflow server does not check them; the pods must still receive them.
            {"MLFLOW_TRACKING_USERNAME": "e2e", "MLFLOW_TRACKING_PASSWORD": "e2e-password"},
        )
    )
    # Prometheus starts once there is a pod to scrape; its address is handed out now.
    prometheus_url = f"http://127.0.0.1:{free_port()}"
    spec = model_spec(
        tracking_uri,
        model,
        stage="Production",
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
    for kind in (SERVICE, SERVICE_MONITOR, SCALED_OBJECT):
        wait_for_child(cluster, kind)

    # 4. The kubelet starts the pod from the Deployment's spec; it serves version 1.
    with run_pod(cluster.api, deployment, tmp_path / "pod-v1", timeout=180) as pod:
        assert pod.env["MLFLOW_TRACKING_PASSWORD"] == "e2e-password", "Secret not passed to the pod"
        answer = predict(pod, REVIEWS[0])
        assert answer["model"] == {"name": model, "version": "1"}, answer
        assert answer["predictions"][0]["label"] == "positive", answer
        cluster.roll_out(NAMESPACE, NAME)
        wait_for(
            lambda: cluster.status(NAMESPACE, NAME).get("lastReadyVersion") == "1",
            timeout=60,
            what="status.lastReadyVersion to become 1",
        )

        # 5. Train version 2 (another regularisation) and promote it.
        set_params(clone, train={"classifier_c": 5.0})
        git(clone, "commit", "-qam", "less regularisation")
        dvc_repro(clone, tracking_uri)
        assert registered_version(clone) == "2", "the second dvc repro should register version 2"
        promote(tracking_uri, model, "2")

        # 6. The operator re-pins the Deployment; the old pod still serves meanwhile.
        deployment = wait_for(
            lambda: deployment_pinned_to(cluster, f"models:/{model}/2"),
            timeout=90,
            what=f"the operator to re-pin the Deployment to models:/{model}/2",
        )
        assert predict(pod, REVIEWS[1])["model"]["version"] == "1"

    # 7. The new pod, started from the new spec, serves version 2; the version is ready.
    with run_pod(cluster.api, deployment, tmp_path / "pod-v2", timeout=180) as pod:
        answer = predict(pod, REVIEWS[0])
        assert answer["model"] == {"name": model, "version": "2"}, answer
        cluster.roll_out(NAMESPACE, NAME)
        wait_for(
            lambda: cluster.status(NAMESPACE, NAME).get("lastReadyVersion") == "2",
            timeout=60,
            what="status.lastReadyVersion to become 2",
        )

        # 8. Prometheus scrapes the pod as the ServiceMonitor asks; the trigger query answers.
        service_monitor = wait_for_child(cluster, SERVICE_MONITOR)
        scaled_object = wait_for_child(cluster, SCALED_OBJECT)
        assert_wired(deployment, wait_for_child(cluster, SERVICE), service_monitor, scaled_object)
        (trigger,) = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "prometheus"]
        assert trigger["metadata"]["serverAddress"] == prometheus_url, trigger
        with prometheus_server(
            tmp_path / "prometheus",
            [scrape_job(service_monitor, pod)],
            port=int(prometheus_url.rpartition(":")[2]),
        ) as prometheus:
            prometheus.wait_for(f'up{{namespace="{NAMESPACE}",service="{NAME}"}} == 1')
            query = trigger["metadata"]["query"]
            value = 0.0
            for burst in range(MAX_BURSTS):
                for index in range(BURST_SIZE):
                    predict(pod, REVIEWS[(burst + index) % len(REVIEWS)])
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

    # 9. Delete the SentimentModel: the operator lets it go, and a real cluster's garbage
    # collector removes every child through its controller reference.
    children = owned_children(cluster)
    assert {c["kind"] for c in children} >= {
        "Deployment",
        "Service",
        "ServiceMonitor",
        "ScaledObject",
    }, [c["kind"] for c in children]
    live = cluster.model(NAMESPACE, NAME) or {}
    assert live["metadata"].get("finalizers"), "the operator holds no finalizer on its resource"
    cluster.delete_models(NAMESPACE)
    wait_for(
        lambda: cluster.model(NAMESPACE, NAME) is None,
        timeout=60,
        what="the operator to remove its finalizer so the SentimentModel is gone",
    )
    uid = owner["metadata"]["uid"]
    for remaining in owned_children(cluster):
        references = remaining["metadata"].get("ownerReferences") or []
        controllers = [r for r in references if r.get("controller")]
        assert [(r["kind"], r["name"], r["uid"]) for r in controllers] == [
            ("SentimentModel", NAME, uid)
        ], (
            f"{remaining['kind']} {remaining['metadata']['name']} would outlive its owner: "
            f"ownerReferences={references}"
        )


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


def scrape_job(service_monitor: dict[str, Any], pod: Pod) -> dict[str, Any]:
    """The scrape job the Prometheus Operator makes of the ServiceMonitor, for one pod."""
    (endpoint,) = service_monitor["spec"]["endpoints"]
    labels = {
        "job": NAME,  # the Service's name
        "namespace": NAMESPACE,
        "service": NAME,
        "pod": f"{NAME}-pod-v2",
        "endpoint": endpoint["port"],
        "container": "model-server",
    }
    return static_scrape_config(
        f"serviceMonitor/{NAMESPACE}/{NAME}/0",
        pod.url.removeprefix("http://"),
        labels,
        interval=endpoint["interval"],
        path=endpoint["path"],
        honor=endpoint.get("honorLabels", False),
    )
