"""The model-server Deployment, pinned to one model version."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render.labels import (
    MODEL_NAME_ANNOTATION,
    MODEL_VERSION_ANNOTATION,
    selector_labels,
    standard_labels,
)
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import SentimentModelSpec

from model_server.contract import (
    ENV_HOME,
    ENV_METRICS_DIR,
    ENV_MODEL_NAME,
    ENV_MODEL_URI,
    ENV_MODEL_VERSION,
    ENV_PORT,
    ENV_TRACKING_URI,
    ENV_WORKERS,
    GRACEFUL_SHUTDOWN_SECONDS,
    LIVENESS_PATH,
    METRICS_PATH,
    PORT_NAME,
    READINESS_PATH,
)

CONTAINER_NAME = "model-server"
RUN_AS_USER = 10001
# Paths inside the container, each on its own emptyDir (the root filesystem is read-only).
TMP_DIR = "/tmp"  # noqa: S108
TMP_SIZE_LIMIT = "512Mi"
METRICS_DIR = f"{TMP_DIR}/metrics"
METRICS_SIZE_LIMIT = "64Mi"
REVISION_HISTORY_LIMIT = 5
# period x failureThreshold = 5 minutes for downloading and loading the model.
STARTUP_PERIOD_SECONDS = 5
STARTUP_FAILURE_THRESHOLD = 60
# A terminating pod keeps serving this long before SIGTERM: the endpoint controller and
# kube-proxy take it out of the Service first, so a rollout drops no request.
PRE_STOP_SECONDS = 5
TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + GRACEFUL_SHUTDOWN_SECONDS + 5


def model_uri(model_name: str, version: str) -> str:
    """The pinned registry URI the pods load: never a floating stage or alias."""
    return f"models:/{model_name}/{version}"


def _env(spec: SentimentModelSpec, version: str) -> list[dict[str, str]]:
    pinned = {
        ENV_MODEL_URI: model_uri(spec.model.name, version),
        ENV_MODEL_NAME: spec.model.name,
        ENV_MODEL_VERSION: version,
        ENV_TRACKING_URI: spec.registry.tracking_uri,
        ENV_PORT: str(spec.server.port),
        ENV_WORKERS: str(spec.server.workers),
        ENV_METRICS_DIR: METRICS_DIR,
        ENV_HOME: TMP_DIR,
    }
    extra = {variable.name: variable.value for variable in spec.server.env}
    return [{"name": name, "value": value} for name, value in (pinned | extra).items()]


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _container(
    spec: SentimentModelSpec, version: str, settings: OperatorSettings
) -> dict[str, Any]:
    server = spec.server
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": server.image or settings.default_server_image,
        "imagePullPolicy": server.image_pull_policy,
        "ports": [{"name": PORT_NAME, "containerPort": server.port, "protocol": "TCP"}],
        "env": _env(spec, version),
    }
    if spec.registry.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": spec.registry.credentials_secret}}]
    # Quantities as strings, the form the API server returns them in.
    resources = {
        section: {name: str(amount) for name, amount in amounts.items()}
        for section, amounts in server.resources.model_dump(exclude_defaults=True).items()
    }
    if resources:
        container["resources"] = resources
    container |= {
        "startupProbe": _probe(
            LIVENESS_PATH, period=STARTUP_PERIOD_SECONDS, failures=STARTUP_FAILURE_THRESHOLD
        ),
        "readinessProbe": _probe(READINESS_PATH, period=5, failures=3),
        "livenessProbe": _probe(LIVENESS_PATH, period=10, failures=3),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": TMP_DIR},
            {"name": "metrics", "mountPath": METRICS_DIR},
        ],
    }
    return container


def _mesh_labels(spec: SentimentModelSpec) -> dict[str, str]:
    """Pod labels for the service mesh; the Istio issue adds its routing objects elsewhere."""
    return {"sidecar.istio.io/inject": "true"} if spec.istio.enabled else {}


def _placement(spec: SentimentModelSpec, instance: str) -> dict[str, Any]:
    """Identity and scheduling fields of the pod spec, those the resource sets."""
    server = spec.server
    placement: dict[str, Any] = {}
    if server.service_account_name:
        placement["serviceAccountName"] = server.service_account_name
    if server.node_selector:
        placement["nodeSelector"] = dict(server.node_selector)
    if server.tolerations:
        placement["tolerations"] = [
            toleration.model_dump(by_alias=True, exclude_none=True)
            for toleration in server.tolerations
        ]
    if server.affinity:
        placement["affinity"] = server.affinity
    if server.topology_spread_constraints:
        # Spread this resource's pods unless the constraint says which pods it counts.
        own = {"labelSelector": {"matchLabels": selector_labels(instance)}}
        placement["topologySpreadConstraints"] = [
            own | constraint for constraint in server.topology_spread_constraints
        ]
    return placement


def _pod_annotations(spec: SentimentModelSpec, version: str) -> dict[str, str]:
    return {
        MODEL_NAME_ANNOTATION: spec.model.name,
        MODEL_VERSION_ANNOTATION: version,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(spec.server.port),
        "prometheus.io/path": METRICS_PATH,
    }


def render_deployment(
    owner: Owner, spec: SentimentModelSpec, version: str, settings: OperatorSettings
) -> dict[str, Any]:
    """The Deployment serving ``version``: a new version changes the pod template only."""
    labels = standard_labels(owner.name, version)
    deployment_spec: dict[str, Any] = {}
    if not spec.autoscaling.enabled:
        deployment_spec["replicas"] = spec.server.replicas
    deployment_spec |= {
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "progressDeadlineSeconds": spec.rollout.progress_deadline_seconds,
        "selector": {"matchLabels": selector_labels(owner.name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {
                "labels": labels | _mesh_labels(spec),
                "annotations": _pod_annotations(spec, version),
            },
            "spec": {
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS_USER,
                    "runAsGroup": RUN_AS_USER,
                    "fsGroup": RUN_AS_USER,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                **_placement(spec, owner.name),
                "containers": [_container(spec, version, settings)],
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                    {"name": "metrics", "emptyDir": {"sizeLimit": METRICS_SIZE_LIMIT}},
                ],
            },
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(
            owner,
            labels,
            {MODEL_NAME_ANNOTATION: spec.model.name, MODEL_VERSION_ANNOTATION: version},
        ),
        "spec": deployment_spec,
    }
