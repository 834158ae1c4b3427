"""The pure renderers: complete, valid, deterministic children pinned to one version."""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentiment_operator.render import (
    Owner,
    model_uri,
    render_children,
    render_deployment,
    render_service,
    service_url,
)
from sentiment_operator.render.labels import (
    MODEL_VERSION_ANNOTATION,
    selector_labels,
    standard_labels,
)
from sentiment_operator.settings import DEFAULT_SERVER_IMAGE, OperatorSettings
from sentiment_operator.spec import (
    API_VERSION,
    KIND,
    RESERVED_ENV,
    SentimentModelSpec,
    parse_spec,
)

from tests.operator.child_schemas import validate_child

OWNER = Owner(API_VERSION, KIND, "imdb", "reviews", "0b8c5a5e-7d7e-4a57-9c3c-6f2d0d2f1a10")
SETTINGS = OperatorSettings()
MINIMAL: dict[str, Any] = {
    "model": {"name": "imdb-sentiment", "stage": "Production"},
    "registry": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
}


def spec_with(**sections: Any) -> SentimentModelSpec:
    raw = copy.deepcopy(MINIMAL)
    for key, value in sections.items():
        raw[key] = raw.get(key, {}) | value
    return parse_spec(raw)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(deployment)["env"]}


def test_children_are_a_deployment_then_a_service() -> None:
    children = render_children(OWNER, spec_with(), "3", SETTINGS)
    assert [(child["apiVersion"], child["kind"]) for child in children] == [
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(spec_with(), id="defaults"),
        pytest.param(
            spec_with(
                model={"name": "imdb-sentiment", "stage": None, "alias": "champion"},
                registry={"credentialsSecret": "mlflow-credentials"},
                server={
                    "image": "registry.local/server:dev",
                    "imagePullPolicy": "Always",
                    "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                    "resources": {"requests": {"cpu": 1, "nvidia.com/gpu": 1}},
                },
                service={"type": "LoadBalancer", "port": 8000},
                autoscaling={"enabled": True, "predictkube": {"enabled": True}},
                monitoring={"enabled": True, "dashboard": True},
                istio={"enabled": True},
            ),
            id="everything-set",
        ),
    ],
)
def test_every_child_validates_against_the_kubernetes_schema(spec: SentimentModelSpec) -> None:
    for child in render_children(OWNER, spec, "12", SETTINGS):
        validate_child(child)


def test_children_are_named_owned_and_labelled_after_the_resource() -> None:
    for child in render_children(OWNER, spec_with(), "3", SETTINGS):
        metadata = child["metadata"]
        assert (metadata["name"], metadata["namespace"]) == ("imdb", "reviews")
        assert metadata["ownerReferences"] == [
            {
                "apiVersion": "mlops.sentiment-operator.io/v1alpha1",
                "kind": "SentimentModel",
                "name": "imdb",
                "uid": OWNER.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        labels = metadata["labels"]
        assert labels["app.kubernetes.io/instance"] == "imdb"
        assert labels["app.kubernetes.io/component"] == "model-server"
        assert labels["app.kubernetes.io/part-of"] == "sentiment-operator"
        assert labels["app.kubernetes.io/managed-by"] == "sentiment-operator"
        assert labels["app.kubernetes.io/name"]


def test_rendering_is_deterministic_and_leaves_its_inputs_alone() -> None:
    spec = spec_with(server={"env": [{"name": "A", "value": "1"}]})
    before = spec.model_dump()
    first = render_children(OWNER, spec, "3", SETTINGS)
    first[0]["metadata"]["labels"]["tampered"] = "yes"  # callers may mutate what they get
    second = render_children(OWNER, spec, "3", SETTINGS)
    third = render_children(OWNER, spec, "3", SETTINGS)
    assert second == third
    assert "tampered" not in second[0]["metadata"]["labels"]
    assert spec.model_dump() == before


def test_the_version_is_pinned_in_env_annotation_and_label() -> None:
    deployment = render_deployment(OWNER, spec_with(), "7", SETTINGS)
    template = deployment["spec"]["template"]

    env = env_of(deployment)
    assert env["MODEL_URI"] == "models:/imdb-sentiment/7" == model_uri("imdb-sentiment", "7")
    assert (env["MODEL_NAME"], env["MODEL_VERSION"]) == ("imdb-sentiment", "7")
    assert template["metadata"]["annotations"][MODEL_VERSION_ANNOTATION] == "7"
    assert template["metadata"]["labels"]["app.kubernetes.io/version"] == "7"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "7"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in selector
    assert selector.items() <= template["metadata"]["labels"].items()


def test_a_new_version_changes_the_pod_template_but_not_the_selector_or_service() -> None:
    old_deployment, old_service = render_children(OWNER, spec_with(), "3", SETTINGS)
    new_deployment, new_service = render_children(OWNER, spec_with(), "4", SETTINGS)
    assert old_deployment["spec"]["selector"] == new_deployment["spec"]["selector"]
    assert old_deployment["spec"]["template"] != new_deployment["spec"]["template"]
    assert old_service == new_service


def test_container_environment() -> None:
    spec = spec_with(
        registry={"credentialsSecret": "mlflow-credentials"},
        server={"port": 9000, "workers": 4, "env": [{"name": "LOG_LEVEL", "value": "debug"}]},
    )
    deployment = render_deployment(OWNER, spec, "3", SETTINGS)
    assert env_of(deployment) == {
        "MODEL_URI": "models:/imdb-sentiment/3",
        "MODEL_NAME": "imdb-sentiment",
        "MODEL_VERSION": "3",
        "MLFLOW_TRACKING_URI": "http://mlflow.mlflow.svc:5000",
        "PORT": "9000",
        "WORKERS": "4",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
        "HOME": "/tmp",
        "LOG_LEVEL": "debug",
    }
    assert container(deployment)["envFrom"] == [{"secretRef": {"name": "mlflow-credentials"}}]
    assert container(deployment)["ports"] == [
        {"name": "http", "containerPort": 9000, "protocol": "TCP"}
    ]


def test_quantities_are_rendered_as_strings() -> None:
    spec = spec_with(
        server={"resources": {"requests": {"cpu": 1}, "limits": {"nvidia.com/gpu": 2}}}
    )
    assert container(render_deployment(OWNER, spec, "3", SETTINGS))["resources"] == {
        "requests": {"cpu": "1"},
        "limits": {"nvidia.com/gpu": "2"},
    }
    no_resources = spec_with(server={"resources": {}})
    assert "resources" not in container(render_deployment(OWNER, no_resources, "3", SETTINGS))


def test_no_secret_reference_without_credentials() -> None:
    assert "envFrom" not in container(render_deployment(OWNER, spec_with(), "3", SETTINGS))


def test_image_defaults_to_the_operator_setting() -> None:
    default = render_deployment(OWNER, spec_with(), "3", SETTINGS)
    assert container(default)["image"] == DEFAULT_SERVER_IMAGE
    custom = OperatorSettings(default_server_image="registry.local/server:1")
    assert container(render_deployment(OWNER, spec_with(), "3", custom))["image"] == (
        "registry.local/server:1"
    )
    pinned = spec_with(server={"image": "registry.local/server:2"})
    assert container(render_deployment(OWNER, pinned, "3", custom))["image"] == (
        "registry.local/server:2"
    )


def test_replicas_follow_the_spec_unless_keda_owns_them() -> None:
    fixed = render_deployment(OWNER, spec_with(server={"replicas": 3}), "3", SETTINGS)
    assert fixed["spec"]["replicas"] == 3
    scaled = spec_with(server={"replicas": 3}, autoscaling={"enabled": True})
    assert "replicas" not in render_deployment(OWNER, scaled, "3", SETTINGS)["spec"]


def test_rollout_strategy() -> None:
    spec = spec_with(rollout={"progressDeadlineSeconds": 120})
    deployment_spec = render_deployment(OWNER, spec, "3", SETTINGS)["spec"]
    assert deployment_spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert deployment_spec["progressDeadlineSeconds"] == 120
    assert 1 <= deployment_spec["revisionHistoryLimit"] <= 10


def test_pod_is_hardened() -> None:
    deployment = render_deployment(OWNER, spec_with(), "3", SETTINGS)
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)

    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = main["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }

    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/tmp/metrics"}
    for name in mounts.values():
        assert volumes[name]["emptyDir"]["sizeLimit"]


def test_probes() -> None:
    main = container(render_deployment(OWNER, spec_with(), "3", SETTINGS))
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = main["startupProbe"]
    assert startup["httpGet"]["port"] == "http"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_istio_switch_labels_the_pods_for_injection() -> None:
    plain = render_deployment(OWNER, spec_with(), "3", SETTINGS)
    meshed = render_deployment(OWNER, spec_with(istio={"enabled": True}), "3", SETTINGS)
    assert "sidecar.istio.io/inject" not in plain["spec"]["template"]["metadata"]["labels"]
    assert meshed["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"


def test_service_selects_every_version_by_port_name() -> None:
    spec = spec_with(service={"type": "NodePort", "port": 8000})
    service = render_service(OWNER, spec, SETTINGS)
    assert service["spec"] == {
        "type": "NodePort",
        "selector": selector_labels("imdb"),
        "ports": [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}],
    }
    assert "app.kubernetes.io/version" not in service["metadata"]["labels"]


def test_service_url() -> None:
    spec = spec_with(service={"port": 8000})
    assert service_url(OWNER, spec, SETTINGS) == "http://imdb.reviews.svc.cluster.local:8000"
    custom = OperatorSettings(cluster_domain="k8s.example")
    assert service_url(OWNER, spec, custom) == "http://imdb.reviews.svc.k8s.example:8000"


def test_labels_refuse_values_kubernetes_would_refuse() -> None:
    assert standard_labels("imdb", "3")["app.kubernetes.io/version"] == "3"
    with pytest.raises(ValueError, match="label value"):
        standard_labels("imdb", "not a label value")
    with pytest.raises(ValueError, match="label value"):
        selector_labels("x" * 64)


def test_owner_from_a_kubernetes_object() -> None:
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "imdb", "namespace": "reviews", "uid": OWNER.uid, "generation": 2},
        "spec": MINIMAL,
    }
    assert Owner.from_object(body) == OWNER


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().field_manager == "sentiment-operator"
    monkeypatch.setenv("SENTIMENT_DEFAULT_SERVER_IMAGE", "registry.local/server:9")
    monkeypatch.setenv("SENTIMENT_FIELD_MANAGER", "tests")
    monkeypatch.setenv("SENTIMENT_CLUSTER_DOMAIN", "k8s.example")
    monkeypatch.setenv("SENTIMENT_WORKERS", "3")
    configured = OperatorSettings()
    assert configured.default_server_image == "registry.local/server:9"
    assert (configured.field_manager, configured.cluster_domain) == ("tests", "k8s.example")
    assert configured.workers == 3
    monkeypatch.setenv("SENTIMENT_WORKERS", "many")
    with pytest.raises(pydantic.ValidationError, match="workers"):
        OperatorSettings()


_names = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(
    name=_names,
    namespace=_names,
    version=st.integers(min_value=1, max_value=10**6).map(str),
    replicas=st.integers(min_value=0, max_value=100),
    port=st.integers(min_value=1024, max_value=65535),
    service_type=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
    autoscaling=st.booleans(),
    secret=st.one_of(st.none(), _names),
    env=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(
            lambda name: name not in RESERVED_ENV
        ),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_any_valid_spec_renders_valid_objects(
    name: str,
    namespace: str,
    version: str,
    replicas: int,
    port: int,
    service_type: str,
    autoscaling: bool,
    secret: str | None,
    env: dict[str, str],
) -> None:
    registry: dict[str, Any] = {"credentialsSecret": secret} if secret else {}
    spec = spec_with(
        registry=registry,
        server={
            "replicas": replicas,
            "port": port,
            "env": [{"name": key, "value": value} for key, value in env.items()],
        },
        service={"type": service_type},
        autoscaling={"enabled": autoscaling},
    )
    owner = Owner(API_VERSION, KIND, name, namespace, OWNER.uid)
    for child in render_children(owner, spec, version, SETTINGS):
        validate_child(child)
        assert child["metadata"]["name"] == name
