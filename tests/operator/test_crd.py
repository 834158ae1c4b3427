"""The generated CRD: in sync with the models, structural, valid, and as strict as they are."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from sentiment_operator.cli import crd_text
from sentiment_operator.crd import build_crd
from sentiment_operator.rules import KNOWN_CREDENTIAL_ENV
from sentiment_operator.spec import (
    SHORT_NAMES,
    SpecError,
    parse_spec,
)
from sentiment_operator.status_model import (
    CONDITION_TYPES,
    Condition,
    SentimentModelStatus,
)

from tests.operator.crd_admission import admit, root_schema, to_json_schema

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "sentimentmodel.yaml"
EXAMPLE = ROOT / "examples" / "sentimentmodel-minimal.yaml"
CRD = build_crd()
SCHEMA = root_schema(CRD)
SPEC_SCHEMA = SCHEMA["properties"]["spec"]
STATUS_SCHEMA = SCHEMA["properties"]["status"]
# Keys allowed beside x-kubernetes-int-or-string's anyOf branches, which hold only a type.
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node`` (itself included), with its path."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return loaded


def test_committed_crd_is_generated_from_the_models() -> None:
    """Fails when the models change without ``python -m sentiment_operator crd`` being rerun."""
    assert CRD_FILE.read_text() == crd_text()
    assert yaml.safe_load(CRD_FILE.read_text()) == CRD


def test_build_crd_is_deterministic() -> None:
    assert build_crd() == build_crd()
    assert crd_text() == crd_text()


@pytest.mark.parametrize("kubernetes_version", ["1.31", kubernetes_validate.latest_version()])
def test_crd_validates_against_the_kubernetes_schema(kubernetes_version: str) -> None:
    kubernetes_validate.validate(CRD, kubernetes_version, strict=True)


def test_schema_is_structural() -> None:
    for path, node in nodes(SCHEMA):
        assert not {"$ref", "$defs", "title"} & set(node), path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == _INT_OR_STRING, path
            continue
        assert not {"anyOf", "oneOf", "allOf", "not"} & set(node), path
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node["type"] == "object", path  # a Kubernetes object passed on as given
            assert not {"properties", "additionalProperties"} & set(node), path
            continue
        if node["type"] == "object" and path != ".metadata":
            assert ("properties" in node) != ("additionalProperties" in node), path
            assert node.get("additionalProperties", {}) is not False, path
        if node["type"] == "array":
            assert "items" in node, path
        if "required" in node:
            assert set(node["required"]) <= set(node["properties"]), path


def test_metadata_restricts_only_the_name() -> None:
    metadata = SCHEMA["properties"]["metadata"]
    assert set(metadata["properties"]) == {"name"}
    assert metadata["properties"]["name"]["maxLength"] == 63


def test_every_spec_and_status_field_is_described() -> None:
    for schema in (SPEC_SCHEMA, STATUS_SCHEMA):
        for path, node in nodes(schema):
            if not path.endswith("{}"):
                assert node.get("description", "").strip(), f"no description at {path}"


def test_every_default_is_valid_for_its_own_field() -> None:
    """The API server refuses a CRD whose defaults do not validate."""
    defaults = [(path, node) for path, node in nodes(SCHEMA) if "default" in node]
    assert len(defaults) > 30
    for path, node in defaults:
        jsonschema.validate(node["default"], to_json_schema(node))
        assert node["default"] is not None, path


def test_optional_fields_have_no_null_default() -> None:
    spec_props = SPEC_SCHEMA["properties"]
    for field in (
        spec_props["server"]["properties"]["image"],
        spec_props["model"]["properties"]["alias"],
    ):
        assert "default" not in field
        assert "nullable" not in field


def test_enums_and_bounds() -> None:
    props = SPEC_SCHEMA["properties"]
    assert props["model"]["properties"]["stage"]["enum"] == ["Staging", "Production"]
    assert props["service"]["properties"]["type"]["enum"] == [
        "ClusterIP",
        "NodePort",
        "LoadBalancer",
    ]
    poll = props["registry"]["properties"]["pollIntervalSeconds"]
    assert (poll["minimum"], poll["maximum"], poll["default"]) == (5, 3600, 30)
    deadline = props["rollout"]["properties"]["progressDeadlineSeconds"]
    assert (deadline["minimum"], deadline["maximum"], deadline["default"]) == (30, 3600, 300)
    requests = props["server"]["properties"]["resources"]["properties"]["requests"]
    assert requests["additionalProperties"]["x-kubernetes-int-or-string"] is True


def test_cross_field_rules_are_declared() -> None:
    props = SPEC_SCHEMA["properties"]
    assert props["model"]["x-kubernetes-validations"] == [
        {
            "rule": "has(self.stage) != has(self.alias)",
            "message": "exactly one of stage and alias must be set",
        }
    ]
    assert props["autoscaling"]["x-kubernetes-validations"] == [
        {
            # Tolerant of absent fields: the apiserver checks the section's {} default too.
            "rule": "!has(self.minReplicas) || !has(self.maxReplicas)"
            " || self.minReplicas <= self.maxReplicas",
            "message": "minReplicas must be less than or equal to maxReplicas",
        }
    ]
    env = props["server"]["properties"]["env"]
    assert "MODEL_URI" in env["x-kubernetes-validations"][0]["rule"]
    assert env["x-kubernetes-list-type"] == "map"
    assert env["x-kubernetes-list-map-keys"] == ["name"]


def test_names_subresources_and_columns() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "sentimentmodels.mlops.sentiment-operator.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == SHORT_NAMES
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is version["storage"] is True
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    assert {"Model", "Stage", "Alias", "Serving", "Ready", "URL", "Age"} <= set(columns)
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    for column in columns.values():
        assert column["description"]
        if column["jsonPath"].startswith(".metadata"):
            continue
        condition = re.fullmatch(
            r'\.status\.conditions\[\?\(@\.type=="(\w+)"\)\]\.(\w+)', column["jsonPath"]
        )
        if condition:
            assert condition[1] in CONDITION_TYPES
            item = SCHEMA["properties"]["status"]["properties"]["conditions"]["items"]
            assert item["properties"][condition[2]]["type"] == column["type"]
            continue
        node = SCHEMA
        for part in column["jsonPath"].strip(".").split("."):
            node = node["properties"][part]  # a column must point at a declared field
        assert node["type"] == column["type"], column


def test_status_schema_accepts_what_the_operator_writes() -> None:
    status = SentimentModelStatus(
        resolved_version="3",
        model_uri="models:/imdb-sentiment/3",
        last_ready_version="2",
        observed_generation=4,
        ready_replicas=1,
        url="http://imdb.default.svc.cluster.local:80",
        conditions=[
            Condition(
                type="Ready",
                status="False",
                reason="Progressing",
                message="rolling out version 3",
                last_transition_time=datetime(2025, 1, 1, 12, tzinfo=UTC),
                observed_generation=4,
            )
        ],
    ).model_dump(by_alias=True, exclude_none=True, mode="json")
    jsonschema.validate(status, to_json_schema(STATUS_SCHEMA))
    assert STATUS_SCHEMA["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_example_is_admitted_and_crd_defaults_equal_model_defaults() -> None:
    pytest.importorskip("celpy")
    defaulted, failures = admit(CRD, example())
    assert failures == []
    parsed = parse_spec(example()["spec"])
    assert defaulted["spec"] == parsed.model_dump(by_alias=True, exclude_none=True, mode="json")


def resource(**spec_changes: Any) -> dict[str, Any]:
    obj = example()
    for dotted, value in spec_changes.items():
        *parents, leaf = dotted.split("__")
        node = obj["spec"]
        for part in parents:
            node = node.setdefault(part, {})
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return obj


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(resource(model__alias=..., model__stage="Production"), id="stage"),
        pytest.param(
            resource(autoscaling__minReplicas=5, autoscaling__maxReplicas=5), id="min=max"
        ),
        pytest.param(resource(server__env=[{"name": "LOG_LEVEL", "value": "debug"}]), id="env"),
        pytest.param(resource(server__resources={"requests": {"cpu": 1}}), id="int-quantity"),
        pytest.param(
            resource(autoscaling__predictkube={"enabled": True, "predictHorizon": "1h30m"}),
            id="predictkube",
        ),
        pytest.param(
            resource(monitoring__labels={"release": "kube-prometheus-stack"}), id="labels"
        ),
        pytest.param(
            resource(monitoring__labels={"example.com/team": "ml", "a" * 63: ""}),
            id="prefixed-label-and-empty-value",
        ),
        pytest.param(resource(model__name="IMDB sentiment é"), id="model-name-with-space"),
        pytest.param(
            resource(server__image="localhost:5000/model_server:v1.2@sha256:" + "0" * 64),
            id="image-with-port-tag-and-digest",
        ),
        pytest.param(resource(server__image="python"), id="short-image"),
        pytest.param(
            resource(server__env=[{"name": "TOKENIZERS_PARALLELISM", "value": "false"}]),
            id="token-not-a-word",
        ),
        pytest.param(
            resource(server__env=[{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/k"}]),
            id="credentials-path",
        ),
        pytest.param(
            resource(server__env=[{"name": "DB_PASSWORD_FILE", "value": "/run/db"}]),
            id="password-file",
        ),
        pytest.param(
            resource(registry__trackingUri="http://mlflow:5000/models/a@b?monkey=1"),
            id="at-sign-in-path",
        ),
    ],
)
def test_crd_and_models_accept_the_same_valid_resources(obj: dict[str, Any]) -> None:
    pytest.importorskip("celpy")
    defaulted, failures = admit(CRD, obj)
    assert failures == []
    assert parse_spec(defaulted["spec"]) == parse_spec(obj["spec"])


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(resource(model__stage="Production"), id="stage-and-alias"),
        pytest.param(resource(model__alias=...), id="neither"),
        pytest.param(resource(autoscaling__minReplicas=6), id="min-above-default-max"),
        pytest.param(resource(model__alias=..., model__stage="Archived"), id="bad-enum"),
        pytest.param(resource(server__replicas="3"), id="wrong-type"),
        pytest.param(resource(server__replica=3), id="unknown-field"),
        pytest.param(resource(registry=...), id="missing-registry"),
        pytest.param(resource(registry__pollIntervalSeconds=4000), id="out-of-bounds"),
        pytest.param(resource(server__port=80), id="privileged-port"),
        pytest.param(
            resource(server__env=[{"name": "MODEL_URI", "value": "x"}]), id="reserved-env"
        ),
        pytest.param(resource(server__resources={"limits": {"memory": "1 GB"}}), id="bad-quantity"),
        pytest.param(resource(monitoring__interval="half a minute"), id="bad-duration"),
        pytest.param(resource(registry__trackingUri="mlflow:5000"), id="bad-url"),
        pytest.param(resource(model__name="imdb\nsentiment"), id="newline-in-model-name"),
        pytest.param(resource(model__name="imdb\x7f"), id="control-in-model-name"),
        pytest.param(resource(server__image="ghcr.io/Org/server:1"), id="upper-case-image"),
        pytest.param(resource(server__image="model server"), id="space-in-image"),
        pytest.param(resource(server__image="server:"), id="empty-tag"),
        pytest.param(resource(monitoring__labels={"team name": "ml"}), id="bad-label-key"),
        pytest.param(resource(monitoring__labels={"x" * 64: "ml"}), id="label-name-too-long"),
        pytest.param(
            resource(monitoring__labels={"a" * 254 + "/x": "ml"}), id="label-prefix-too-long"
        ),
        pytest.param(resource(monitoring__labels={"team": "m l"}), id="bad-label-value"),
        pytest.param(resource(monitoring__labels={"team": "x" * 64}), id="label-value-too-long"),
    ],
)
def test_crd_and_models_refuse_the_same_invalid_resources(obj: dict[str, Any]) -> None:
    pytest.importorskip("celpy")
    _, failures = admit(CRD, copy.deepcopy(obj))
    assert failures, "the API server would accept this"
    with pytest.raises(SpecError):
        parse_spec(obj["spec"])


def test_crd_refuses_a_name_too_long_for_a_service() -> None:
    obj = example()
    obj["metadata"]["name"] = "x" * 64
    _, failures = admit(CRD, obj)
    assert failures


CREDENTIAL_IN_URL = (
    "trackingUri must not carry credentials (user info, or a token, key or password "
    "parameter): use registry.credentialsSecret"
)
CREDENTIAL_IN_ENV = "env must not set a credential variable: use registry.credentialsSecret"


@pytest.mark.parametrize(
    ("obj", "where", "message"),
    [
        pytest.param(
            resource(registry__trackingUri="https://user:pw@mlflow"),
            ".spec.registry",  # the rule sits on the object, so as not to repeat the value
            CREDENTIAL_IN_URL,
            id="user-info",
        ),
        pytest.param(
            resource(registry__trackingUri="https://t@mlflow"),
            ".spec.registry",
            CREDENTIAL_IN_URL,
            id="token-as-user",
        ),
        pytest.param(
            resource(registry__trackingUri="http://mlflow/?access_token=t"),
            ".spec.registry",
            CREDENTIAL_IN_URL,
            id="query",
        ),
        *(
            pytest.param(
                resource(server__env=[{"name": name, "value": "v"}]),
                ".spec.server.env[0].name",
                CREDENTIAL_IN_ENV,
                id=name,
            )
            for name in (*KNOWN_CREDENTIAL_ENV, "hf_token", "OPENAI_API_KEY")
        ),
    ],
)
def test_crd_and_models_refuse_credentials_with_the_same_message(
    obj: dict[str, Any], where: str, message: str
) -> None:
    pytest.importorskip("celpy")
    _, failures = admit(CRD, copy.deepcopy(obj))
    assert failures == [f"{where}: {message}"]
    with pytest.raises(SpecError) as caught:
        parse_spec(obj["spec"])
    (problem,) = caught.value.problems
    assert problem.endswith(f": {message}")


def test_the_credential_rule_on_the_uri_names_the_field_not_its_value() -> None:
    """On the registry object, the API server's error omits the value it would otherwise echo."""
    registry = SPEC_SCHEMA["properties"]["registry"]
    (rule,) = registry["x-kubernetes-validations"]
    assert rule["fieldPath"] == ".trackingUri"
    assert rule["rule"].startswith("!has(self.trackingUri) || (!self.trackingUri.matches(")
    assert "x-kubernetes-validations" not in registry["properties"]["trackingUri"]


def test_every_cel_rule_is_bounded() -> None:
    """The API server estimates a rule's cost from the bounds of what it reads."""

    def bounded(node: dict[str, Any]) -> bool:
        kind = node["type"]
        if kind == "string":
            return "maxLength" in node or "enum" in node
        if kind == "array":
            return "maxItems" in node and bounded(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            return "maxProperties" in node and bounded(node["additionalProperties"])
        return True

    ruled = [(path, node) for path, node in nodes(SCHEMA) if "x-kubernetes-validations" in node]
    assert len(ruled) >= 6
    for path, node in ruled:
        assert bounded(node), path
        for rule in node["x-kubernetes-validations"]:
            for name, sub in node.get("properties", {}).items():
                if f"self.{name}." in rule["rule"]:
                    assert bounded(sub), f"{path}.{name}"


@pytest.mark.parametrize(
    ("name", "admitted"),
    [("imdb", True), ("x" * 63, True), ("x" * 64, False), ("Bad_Name", False), ("9lives", False)],
)
def test_crd_admits_only_names_a_service_can_take(name: str, admitted: bool) -> None:
    obj = example()
    obj["metadata"]["name"] = name
    _, failures = admit(CRD, obj)
    assert (failures == []) is admitted


def spec_fields(node: dict[str, Any], path: str = "") -> Iterator[str]:
    """Dotted paths of the spec's fields that the README documents (sections are opened,
    objects with a default of their own, like ``server.resources``, are one field)."""
    for name, sub in node.get("properties", {}).items():
        here = f"{path}.{name}" if path else name
        if sub.get("type") == "object" and "properties" in sub and not sub.get("default"):
            yield from spec_fields(sub, here)
        else:
            yield here


def test_the_readme_reference_documents_every_spec_field() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [path for path in spec_fields(SPEC_SCHEMA) if f"| `{path}` |" not in readme]
    assert missing == []
