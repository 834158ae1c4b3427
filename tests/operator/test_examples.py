"""The example resources: admitted by the CRD, parsed by the models, rendered validly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sentiment_operator.crd import build_crd
from sentiment_operator.render import Owner, render_children
from sentiment_operator.spec import parse_spec

from tests.operator.child_schemas import validate_child
from tests.operator.crd_admission import admit
from tests.operator.rendering import SETTINGS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FULL = EXAMPLES / "sentimentmodel-full.yaml"
RESOURCE_EXAMPLES = sorted(EXAMPLES.glob("sentimentmodel-*.yaml"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_both_examples_are_found() -> None:
    assert {path.name for path in RESOURCE_EXAMPLES} >= {
        "sentimentmodel-minimal.yaml",
        "sentimentmodel-full.yaml",
    }


@pytest.mark.parametrize("path", RESOURCE_EXAMPLES, ids=lambda path: path.name)
def test_example_is_admitted_by_the_crd_and_parsed_by_the_models(path: Path) -> None:
    pytest.importorskip("celpy")
    obj = load(path)
    defaulted, failures = admit(build_crd(), obj)
    assert failures == []
    assert parse_spec(defaulted["spec"]) == parse_spec(obj["spec"])


@pytest.mark.parametrize("path", RESOURCE_EXAMPLES, ids=lambda path: path.name)
def test_example_renders_valid_children(path: Path) -> None:
    obj = load(path)
    owner = Owner(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], "default", "uid-1")
    for child in render_children(owner, parse_spec(obj["spec"]), "1", SETTINGS):
        validate_child(child)


def test_full_example_switches_every_option_on() -> None:
    spec = parse_spec(load(FULL)["spec"])
    assert spec.registry.credentials_secret
    assert spec.autoscaling.enabled
    assert spec.autoscaling.predictkube.enabled
    assert spec.monitoring.enabled
    assert spec.monitoring.dashboard
    assert spec.monitoring.labels
    assert spec.istio.enabled
    assert spec.server.env
    assert spec.server.node_selector
    assert spec.server.tolerations
    assert spec.server.affinity
    assert spec.server.topology_spread_constraints
    owner = Owner("v", "SentimentModel", "imdb", "default", "uid-1")
    kinds = [child["kind"] for child in render_children(owner, spec, "1", SETTINGS)]
    assert kinds == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "TriggerAuthentication",
        "ScaledObject",
        "ConfigMap",
    ]


def test_every_field_of_the_full_example_is_commented() -> None:
    lines = FULL.read_text().splitlines()
    start = lines.index("spec:")
    uncommented = [
        f"{number + 1}: {line.strip()}"
        for number, line in enumerate(lines[start + 1 :], start=start + 1)
        if line.strip()
        and not line.lstrip().startswith("#")
        and "#" not in line
        and not lines[number - 1].lstrip().startswith("#")
    ]
    assert uncommented == []
