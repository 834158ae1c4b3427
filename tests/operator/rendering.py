"""Specs, owners and look-ups shared by the renderer tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from sentiment_operator.render import Owner, render_children
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import API_VERSION, KIND, SentimentModelSpec, parse_spec

OWNER = Owner(API_VERSION, KIND, "imdb", "reviews", "0b8c5a5e-7d7e-4a57-9c3c-6f2d0d2f1a10")
SETTINGS = OperatorSettings()
MINIMAL: dict[str, Any] = {
    "model": {"name": "imdb-sentiment", "stage": "Production"},
    "registry": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
}
EVERY_OPTION: dict[str, Any] = {
    "monitoring": {"enabled": True, "dashboard": True, "labels": {"release": "kps"}},
    "autoscaling": {"enabled": True, "predictkube": {"enabled": True}},
    "istio": {"enabled": True},
}


def spec_with(**sections: Any) -> SentimentModelSpec:
    """The minimal spec with each given section merged into it (one level deep)."""
    raw = copy.deepcopy(MINIMAL)
    for key, value in sections.items():
        raw[key] = raw.get(key, {}) | value
    return parse_spec(raw)


def every_option(**overrides: Any) -> SentimentModelSpec:
    """A spec with every optional child switched on, then ``overrides`` merged in."""
    sections = copy.deepcopy(EVERY_OPTION)
    for key, value in overrides.items():
        sections[key] = sections.get(key, {}) | value
    return spec_with(**sections)


def children_of(spec: SentimentModelSpec, owner: Owner = OWNER) -> dict[str, dict[str, Any]]:
    """The rendered children by kind (each kind is rendered at most once)."""
    children = render_children(owner, spec, "3", SETTINGS)
    by_kind = {child["kind"]: child for child in children}
    assert len(by_kind) == len(children)
    return by_kind


def dashboard_of(config_map: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON model held by the ConfigMap."""
    (text,) = config_map["data"].values()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def generated_queries(children: dict[str, dict[str, Any]]) -> list[str]:
    """Every PromQL expression in the ScaledObject's triggers and the dashboard's panels."""
    found = []
    if "ScaledObject" in children:
        found += [t["metadata"]["query"] for t in children["ScaledObject"]["spec"]["triggers"]]
    if "ConfigMap" in children:
        for panel in dashboard_of(children["ConfigMap"])["panels"]:
            found += [target["expr"] for target in panel["targets"]]
    return found
