"""What the API server does with a custom resource under a CRD, enough for tests.

Defaulting (top-down, as the API server does it), OpenAPI validation (via jsonschema,
refusing unknown fields like ``kubectl apply --validate=strict``) and the CEL rules
of ``x-kubernetes-validations`` (via cel-python, when installed).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema


def root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def to_json_schema(node: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """A structural OpenAPI v3 node as a JSON-schema (draft 2020-12) node."""
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            result[key] = {
                name: to_json_schema(sub, closed=closed and name != "metadata")
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties"):
            result[key] = to_json_schema(value, closed=closed)
        elif key == "anyOf":
            result[key] = [to_json_schema(branch, closed=closed) for branch in value]
        elif key == "nullable" or key == "default" or key.startswith("x-kubernetes-"):
            continue
        else:
            result[key] = value
    if node.get("nullable"):
        result["type"] = [node["type"], "null"]
    if closed and "properties" in node and "additionalProperties" not in node:
        result["additionalProperties"] = False
    return result


def apply_defaults(node: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults filled in, parents before children."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for name, sub in node.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            value = {key: apply_defaults(extra, item) for key, item in value.items()}
    elif isinstance(value, list) and "items" in node:
        value = [apply_defaults(node["items"], item) for item in value]
    return value


def rules(
    node: dict[str, Any], value: Any, path: str = ""
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every (path, rule, self) that the API server would evaluate for ``value``."""
    for rule in node.get("x-kubernetes-validations", []):
        yield path, rule, value
    if isinstance(value, dict):
        for name, sub in node.get("properties", {}).items():
            if name in value:
                yield from rules(sub, value[name], f"{path}.{name}")
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            yield from rules(node["items"], item, f"{path}[{index}]")


def cel_failures(node: dict[str, Any], value: Any) -> list[str]:
    """Messages of the CEL rules that ``value`` breaks."""
    import celpy  # an optional test dependency: the caller skips without it
    from celpy.adapter import json_to_cel

    environment = celpy.Environment()
    failed = []
    for path, rule, target in rules(node, value):
        program = environment.program(environment.compile(rule["rule"]))
        result = program.evaluate({"self": json_to_cel(target)})
        # An evaluation error comes back as a value, not an exception: it fails the rule too.
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failed.append(f"{path}: {rule['message']}")
    return failed


def schema_failures(node: dict[str, Any], value: Any) -> list[str]:
    """Messages of the OpenAPI validation errors of ``value``."""
    validator = jsonschema.Draft202012Validator(to_json_schema(node))
    return [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(value)
    ]


def admit(crd: dict[str, Any], obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The defaulted object and every reason the API server would refuse it."""
    schema = root_schema(crd)
    defaulted: dict[str, Any] = apply_defaults(schema, obj)
    failures = schema_failures(schema, defaulted)
    if not failures:
        failures = cel_failures(schema, defaulted)
    return defaulted, failures
