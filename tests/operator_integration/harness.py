"""The operator under test, a client for the local cluster, and MLflow model helpers.

The operator runs exactly as in production: ``python -m sentiment_operator run``, in
its own process, from a venv holding what its image holds (the ``operator`` extra), with
nothing but the token of the ServiceAccount that ``deploy/`` creates. Kubernetes itself
runs the Deployments it makes: the node agent starts the model server from the pod's
container spec, so rollouts, readiness, ReplicaSets and ``ProgressDeadlineExceeded``
are the cluster's own.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import mlflow
import yaml
from mlflow import MlflowClient
from sentiment_operator.kube import KubeApi, ObjectRef
from sentiment_operator.spec import API_VERSION, KIND

from tests.support.kube import KubeCluster
from tests.support.kube import wait_for as wait_for  # re-exported for the tests
from tests.support.mlflow_server import basic_auth_mlflow_server as basic_auth_mlflow_server
from tests.support.operator_env import operator_python
from tests.support.processes import free_port, running, wait_http

#: Faster retries than production so fault tests finish in seconds.
OPERATOR_ENV = {
    "SENTIMENT_RETRY_SECONDS": "1",
    "SENTIMENT_POLL_BACKOFF_MAX_SECONDS": "5",
    # A basic-auth MLflow server hashes the password on every request: slow on two busy cores.
    "SENTIMENT_REGISTRY_TIMEOUT_SECONDS": "10",
    "SENTIMENT_LOG_LEVEL": "INFO",
    "SENTIMENT_DISCOVERY_SECONDS": "2",  # a CRD installed mid-test is seen within seconds
}
POLL_SECONDS = 5  # the smallest interval the spec accepts
OPERATOR_NAMESPACE = OPERATOR_ACCOUNT = "sentiment-operator"
#: One gunicorn worker per test pod: the suite runs many pods on two cores.
SERVER_DEFAULTS = {"workers": 1, "env": [{"name": "THREADS", "value": "4"}]}


def condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
    """The ``type_`` condition of an object's status, or an empty dict."""
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def pinned(deployment: Mapping[str, Any] | None) -> str | None:
    """The MODEL_URI a Deployment's model-server container is pinned to."""
    if deployment is None:
        return None
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for variable in container.get("env") or []:
            if variable["name"] == "MODEL_URI":
                value: str = variable["value"]
                return value
    return None


@dataclass
class Cluster:
    """The local cluster, seen through the Kubernetes API as kubectl would."""

    kube: KubeCluster
    api: KubeApi = field(init=False)

    def __post_init__(self) -> None:
        self.api = KubeApi(self.kube.login, field_manager="tests")

    def create_model(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """``kubectl apply`` a SentimentModel."""
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec),
        }
        return self.api.create(body)

    def model(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.api.get(ObjectRef(API_VERSION, KIND, namespace, name))

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        """The SentimentModel's status ({} while it has none)."""
        status: dict[str, Any] = (self.model(namespace, name) or {}).get("status") or {}
        return status

    def patch_model(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.api.patch(ObjectRef(API_VERSION, KIND, namespace, name), patch)

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.api.get(ObjectRef("apps/v1", "Deployment", namespace, name))

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.api.get(ObjectRef("v1", "Service", namespace, name))

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        return self.api.list("v1", "Pod", namespace) or []

    def children(self, namespace: str) -> list[dict[str, Any]]:
        """Every Deployment and Service in the namespace."""
        found = []
        for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service")):
            for item in self.api.list(api_version, kind, namespace) or []:
                found.append({"apiVersion": api_version, "kind": kind, **item})
        return found

    def events(self, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
        """Events on the SentimentModel ``name`` (on any object when None), oldest first."""
        events = self.api.list("v1", "Event", namespace) or []
        return [
            event
            for event in events
            if name is None
            or (
                event["involvedObject"].get("kind") == KIND
                and event["involvedObject"].get("name") == name
            )
        ]

    def event_reasons(self, namespace: str, name: str) -> list[str]:
        return [event["reason"] for event in self.events(namespace, name)]

    def rolled_out(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment once its current template serves on every replica, old pods gone."""
        deployment = self.deployment(namespace, name)
        if deployment is None:
            return None
        spec, status = deployment["spec"], deployment.get("status") or {}
        replicas = spec.get("replicas", 1)
        done = (
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
        )
        return deployment if done else None

    def wait_rolled_out(self, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until Kubernetes has rolled out the Deployment's current template."""
        return wait_for(
            lambda: self.rolled_out(namespace, name), timeout=timeout,
            what=f"Deployment {namespace}/{name} to roll out",
        )  # fmt: skip

    def delete_models(self, namespace: str) -> None:
        """Delete every SentimentModel of the namespace (the operator then forgets them)."""
        for item in self.api.list(API_VERSION, KIND, namespace) or []:
            self.api.delete(ObjectRef(API_VERSION, KIND, namespace, item["metadata"]["name"]))


def install_operator_rbac(kube: KubeCluster, repo_root: Path) -> None:
    """Everything ``kubectl apply -k deploy/`` installs except the operator's Deployment."""
    rendered = kube.kubectl("kustomize", str(repo_root / "deploy")).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o and o["kind"] != "Deployment"]
    kube.apply(*objects)
    kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def service_account_kubeconfig(
    kube: KubeCluster,
    path: Path,
    account: tuple[str, str] = (OPERATOR_NAMESPACE, OPERATOR_ACCOUNT),
) -> Path:
    """A kubeconfig holding only a ServiceAccount's token (the operator's), as its pod has."""
    namespace, name = account
    token = kube.kubectl("create", "token", name, "-n", namespace, "--duration=24h").stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class OperatorProcess:
    """``sentiment-operator run`` (every namespace unless ``scope`` says otherwise) with only
    its ServiceAccount's token, restartable."""

    #: Every operator process made, so a test that installs the operator as a pod can pause them.
    running: ClassVar[list[OperatorProcess]] = []

    def __init__(
        self,
        kube: KubeCluster,
        workdir: Path,
        *,
        scope: Sequence[str] = ("--all-namespaces",),
        account: tuple[str, str] = (OPERATOR_NAMESPACE, OPERATOR_ACCOUNT),
    ) -> None:
        self.kube = kube
        self.workdir = workdir
        self.scope = list(scope)
        self.kubeconfig = service_account_kubeconfig(kube, workdir / "operator.kubeconfig", account)
        OperatorProcess.running.append(self)
        self.log_path = workdir / "operator-0.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._stack = contextlib.ExitStack()
        self.starts = 0

    def start(self) -> None:
        """Start it and wait until its liveness endpoint answers."""
        port = free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **OPERATOR_ENV}
        command = [
            str(operator_python()), "-m", "sentiment_operator", "run", *self.scope,
            "--liveness", f"http://127.0.0.1:{port}/healthz",
        ]  # fmt: skip
        self.starts += 1
        self.log_path = self.workdir / f"operator-{self.starts}.log"
        self.process = self._stack.enter_context(
            running(command, log_path=self.log_path, env=env, cwd=self.workdir)
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120, process=self.process)

    def stop(self) -> None:
        """SIGTERM it, as Kubernetes stops a pod."""
        self._stack.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        """Resident memory of the operator process, KiB."""
        assert self.process is not None, "the operator is not running"
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS for the operator process")


class ModelRegistry:
    """Register and promote versions of a small real sentiment model in a real MLflow server.

    The model is trained once (the project's own Pipeline, a few hundred reviews) and
    logged once; every version points at it, so pods really load and serve each one.
    ``source`` points versions at another artifact location instead.
    """

    def __init__(self, url: str, *, source: str | None = None) -> None:
        self.url = url
        self.client = MlflowClient(url)
        self._source = source

    def _model_source(self) -> tuple[str, str | None]:
        """The logged model's source URI and (MLflow 3) model id, logged on first use."""
        if self._source is None:
            from tests.model_server.sample_model import register_sample_model

            logged = register_sample_model(self.url, "operator-tests-base", rows=400)
            self._source = str(self.client.get_model_version(logged.name, logged.version).source)
        # MLflow 3 logs models as ``models:/m-…`` and wants that id beside such a source.
        logged_model = self._source.startswith("models:/m-")
        return self._source, self._source.removeprefix("models:/") if logged_model else None

    def _ensure_model(self, name: str) -> None:
        try:
            self.client.get_registered_model(name)
        except mlflow.MlflowException:
            self.client.create_registered_model(name)

    def add_version(self, name: str) -> str:
        """Register a new servable version of ``name`` (creating the model first if needed)."""
        source, model_id = self._model_source()
        self._ensure_model(name)
        version = self.client.create_model_version(name, source=source, model_id=model_id)
        return str(version.version)

    def add_broken_version(self, name: str) -> str:
        """A version whose artifacts hold no model: its pods never become ready."""
        self._ensure_model(name)
        experiment = self.client.get_experiment_by_name("Default")
        run = self.client.create_run(experiment.experiment_id if experiment else "0")
        self.client.set_terminated(run.info.run_id)
        source = f"runs:/{run.info.run_id}/model"
        version = self.client.create_model_version(name, source=source, run_id=run.info.run_id)
        return str(version.version)

    def promote(self, name: str, version: str, stage: str = "Production") -> None:
        """Move ``version`` into ``stage``, archiving whatever was there."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.client.transition_model_version_stage(
                name, version, stage, archive_existing_versions=True
            )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)


def custom_resource_definition(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    """A minimal namespaced CRD accepting any object, like a third party's CRD as installed."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def prometheus_operator_crds() -> list[dict[str, Any]]:
    """The Prometheus Operator CRD the operator uses: ServiceMonitor."""
    return [
        custom_resource_definition(
            "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"
        )
    ]


def keda_crds() -> list[dict[str, Any]]:
    """The KEDA CRDs the operator uses: ScaledObject and TriggerAuthentication."""
    return [
        custom_resource_definition("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects"),
        custom_resource_definition(
            "keda.sh", "v1alpha1", "TriggerAuthentication", "triggerauthentications"
        ),
    ]


def model_spec(
    tracking_uri: str,
    model: str,
    *,
    stage: str | None = None,
    alias: str | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A SentimentModel spec polling every :data:`POLL_SECONDS`; ``sections`` merge in."""
    selector = {"alias": alias} if alias is not None else {"stage": stage or "Production"}
    spec: dict[str, Any] = {
        "model": {"name": model, **selector},
        "registry": {"trackingUri": tracking_uri, "pollIntervalSeconds": POLL_SECONDS},
    }
    spec["server"] = dict(SERVER_DEFAULTS)
    for key, value in sections.items():
        spec[key] = {**spec.get(key, {}), **value}
    return spec


def secret(namespace: str, name: str, data: Mapping[str, str]) -> dict[str, Any]:
    """A Secret object holding ``data``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }
