"""The SentimentModel CustomResourceDefinition, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema
from sentiment_operator.rules import DNS_LABEL, NAME_MAX_LENGTH
from sentiment_operator.spec import (
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    SentimentModelSpec,
)
from sentiment_operator.status_model import SentimentModelStatus

# JSON-schema keywords that carry over to a structural OpenAPI v3 schema unchanged, in the
# order they are written (the rest follow), so the generated YAML reads top-down.
_KEPT = (
    "type",
    "description",
    "default",
    "enum",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
)
_ORDER = (
    *_KEPT,
    "anyOf",
    "x-kubernetes-int-or-string",
    "properties",
    "items",
    "additionalProperties",
)
_DROPPED = frozenset({"title", "additionalProperties", "$defs"})


class _DefaultsFromFactories(GenerateJsonSchema):
    """Also publish ``default_factory`` defaults, so the API server applies them too.

    A nested model's default is written as the fields that differ from its own defaults
    (often ``{}``): the API server then fills in the rest from the nested schema.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, BaseModel):
            return dft.model_dump(by_alias=True, exclude_defaults=True, mode="json")
        return super().encode_default(dft)


def _structural(node: JsonSchemaValue, defs: dict[str, JsonSchemaValue]) -> dict[str, Any]:
    """Turn a pydantic JSON schema node into a structural OpenAPI v3 schema node."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        # Field-level keys (description, default) override the referenced model's.
        node = {**_structural(defs[ref.rsplit("/", 1)[-1]], defs), **node}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("anyOf")
        return _structural(node, defs) | {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
    if "anyOf" in node:
        # Optional[X]: an absent field is how Kubernetes says None, so drop the null branch.
        branches = [branch for branch in node.pop("anyOf") if branch != {"type": "null"}]
        if len(branches) != 1:
            raise ValueError(f"cannot express union {branches} in a structural schema")
        node = {**_structural(branches[0], defs), **node}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", PydanticUndefined) is None:
        del node["default"]

    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            result[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            result[key] = _structural(value, defs)
        elif key in _KEPT or key.startswith("x-kubernetes-"):
            result[key] = value
        elif key not in _DROPPED:
            raise ValueError(f"JSON-schema keyword {key!r} has no structural equivalent")
    rank = {key: index for index, key in enumerate(_ORDER)}
    return dict(sorted(result.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a spec or status model (camelCase fields)."""
    schema = model.model_json_schema(by_alias=True, schema_generator=_DefaultsFromFactories)
    return _structural(schema, schema.get("$defs", {}))


# A printer column's JSONPath for one field of one condition.
_CONDITION = '.status.conditions[?(@.type=="{}")].{}'


def _printer_columns() -> list[dict[str, Any]]:
    def column(name: str, type_: str, path: str, description: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "type": type_, "jsonPath": path, "description": description, **extra}

    return [
        column("Model", "string", ".spec.model.name", "Registered model name."),
        column("Stage", "string", ".spec.model.stage", "Registry stage served."),
        column("Alias", "string", ".spec.model.alias", "Registered-model alias served."),
        column("Serving", "string", ".status.lastReadyVersion", "Version ready and serving."),
        column(
            "Resolved",
            "string",
            ".status.resolvedVersion",
            "Version the stage or alias resolves to.",
            priority=1,
        ),
        column("Ready", "string", _CONDITION.format("Ready", "status"), "Whether it serves."),
        column(
            "Reason",
            "string",
            _CONDITION.format("Ready", "reason"),
            "Why it is or is not ready.",
            priority=1,
        ),
        column(
            "Replicas", "integer", ".status.readyReplicas", "Ready model-server pods.", priority=1
        ),
        column("URL", "string", ".status.url", "In-cluster URL of the Service."),
        column("Age", "date", ".metadata.creationTimestamp", "Time since creation."),
    ]


def build_crd() -> dict[str, Any]:
    """The complete CustomResourceDefinition object."""
    spec_schema = model_schema(SentimentModelSpec)
    status_schema = model_schema(SentimentModelStatus)
    root = {
        "type": "object",
        "description": f"{KIND}: {spec_schema['description']}",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {
                "type": "object",
                "properties": {
                    # Children are named after the resource and a Service name is a DNS label.
                    "name": {
                        "type": "string",
                        "maxLength": NAME_MAX_LENGTH,
                        "pattern": DNS_LABEL,
                    },
                },
            },
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "sentiment-operator",
                "app.kubernetes.io/part-of": "sentiment-operator",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["mlops"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                }
            ],
        },
    }
