"""Validate rendered children against the upstream schemas of their kinds, strictly.

Core kinds go through kubernetes-validate (strict: unknown fields fail). The custom
kinds go through cloudcoil's pydantic models, generated from the upstream CRDs
(``cloudcoil-models-keda``, ``cloudcoil-models-prometheus-operator``). Those models
silently drop unknown fields and coerce types, so a child must also come back unchanged
from a parse and dump: a misspelt key or a string where an integer belongs shows up as
a difference.

A KEDA trigger's ``metadata`` is a free string map in the CRD; its keys are checked
against the parameters the scalers declare (KEDA's ``keda:"name=..."`` struct tags).
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
from pydantic import BaseModel

KUBERNETES_VERSION = "1.31"
TYPED_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
}
# Trigger metadata keys and authentication parameters, per scaler type (KEDA 2.16+).
TRIGGER_METADATA: dict[str, set[str]] = {
    "prometheus": {
        "serverAddress",
        "query",
        "queryParameters",
        "threshold",
        "activationThreshold",
        "namespace",
        "customHeaders",
        "ignoreNullValues",
        "unsafeSsl",
        "timeout",
    },
    "predictkube": {
        "prometheusAddress",
        "query",
        "predictHorizon",
        "queryStep",
        "historyTimeWindow",
        "threshold",
        "activationThreshold",
    },
}
REQUIRED_TRIGGER_METADATA: dict[str, set[str]] = {
    "prometheus": {"serverAddress", "query", "threshold"},
    "predictkube": {
        "prometheusAddress",
        "query",
        "predictHorizon",
        "queryStep",
        "historyTimeWindow",
    },
}
TRIGGER_AUTH_PARAMETERS: dict[str, set[str]] = {"prometheus": set(), "predictkube": {"apiKey"}}


class SchemaError(AssertionError):
    """A child that its kind's schema refuses or does not fully understand."""


def differences(given: Any, parsed: Any, path: str = "") -> list[str]:
    """Where ``parsed`` (the model's dump) is not ``given``: dropped, added or changed."""
    if isinstance(given, dict) and isinstance(parsed, dict):
        found = [f"{path}.{key}: unknown field" for key in given if key not in parsed]
        found += [f"{path}.{key}: added by the model" for key in parsed if key not in given]
        for key in given.keys() & parsed.keys():
            found += differences(given[key], parsed[key], f"{path}.{key}")
        return found
    if isinstance(given, list) and isinstance(parsed, list) and len(given) == len(parsed):
        found = []
        for index, (left, right) in enumerate(zip(given, parsed, strict=True)):
            found += differences(left, right, f"{path}[{index}]")
        return found
    if type(given) is not type(parsed) or given != parsed:
        return [f"{path}: {given!r} became {parsed!r}"]
    return []


def _trigger_problems(trigger: dict[str, Any]) -> list[str]:
    kind = trigger["type"]
    if kind not in TRIGGER_METADATA:
        return [f"trigger type {kind!r} is not one the operator renders"]
    keys = set(trigger["metadata"])
    problems = [f"{kind} trigger: unknown key {key}" for key in keys - TRIGGER_METADATA[kind]]
    problems += [f"{kind} trigger: missing {key}" for key in REQUIRED_TRIGGER_METADATA[kind] - keys]
    return problems


def validate_child(child: dict[str, Any]) -> None:
    """Raise if the child's kind's schema refuses it or would drop or change any field."""
    model = TYPED_MODELS.get((child["apiVersion"], child["kind"]))
    if model is None:
        kubernetes_validate.validate(child, KUBERNETES_VERSION, strict=True)
        return
    parsed = model.model_validate(child).model_dump(by_alias=True, exclude_unset=True, mode="json")
    problems = differences(child, parsed)
    if child["kind"] == "ScaledObject":
        for trigger in child["spec"]["triggers"]:
            problems += _trigger_problems(trigger)
    if problems:
        raise SchemaError(f"{child['kind']} {child['metadata']['name']}: " + "; ".join(problems))
