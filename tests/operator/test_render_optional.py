"""The optional children: which ones each switch adds, and that every one is schema-valid."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import kubernetes_validate
import pydantic
import pytest
from sentiment_operator.render import CHILD_KINDS, render_children
from sentiment_operator.render.kinds import (
    CONFIG_MAP,
    DEPLOYMENT,
    SCALED_OBJECT,
    SERVICE,
    SERVICE_MONITOR,
    TRIGGER_AUTHENTICATION,
    kind_of,
    optional_kinds,
    partition_by_crd,
)
from sentiment_operator.render.labels import owned_selector
from sentiment_operator.spec import SentimentModelSpec
from sentiment_operator.status_model import CONDITION_TYPES

from tests.operator.child_schemas import SchemaError, validate_child
from tests.operator.rendering import OWNER, SETTINGS, children_of, every_option, spec_with

SWITCHES = ("monitoring", "dashboard", "autoscaling", "predictkube", "istio")


def spec_for(on: set[str]) -> SentimentModelSpec:
    return spec_with(
        monitoring={"enabled": "monitoring" in on, "dashboard": "dashboard" in on},
        autoscaling={
            "enabled": "autoscaling" in on,
            "predictkube": {"enabled": "predictkube" in on},
        },
        istio={"enabled": "istio" in on},
    )


def expected_kinds(on: set[str]) -> list[str]:
    kinds = ["Deployment", "Service"]
    if "autoscaling" in on:  # up to 5 replicas by default: a disruption budget
        kinds.append("PodDisruptionBudget")
    if "monitoring" in on:
        kinds.append("ServiceMonitor")
    if "autoscaling" in on:
        kinds += ["TriggerAuthentication"] if "predictkube" in on else []
        kinds.append("ScaledObject")
    if "dashboard" in on:
        kinds.append("ConfigMap")
    return kinds


COMBINATIONS = [
    set(combination)
    for size in range(len(SWITCHES) + 1)
    for combination in itertools.combinations(SWITCHES, size)
]


@pytest.mark.parametrize("on", COMBINATIONS, ids=lambda on: "+".join(sorted(on)) or "none")
def test_each_switch_adds_its_children_and_every_child_is_schema_valid(on: set[str]) -> None:
    children = render_children(OWNER, spec_for(on), "3", SETTINGS)
    assert [child["kind"] for child in children] == expected_kinds(on)
    for child in children:
        validate_child(child)


def test_children_come_in_the_order_of_child_kinds() -> None:
    children = render_children(OWNER, every_option(), "3", SETTINGS)
    assert [kind_of(child) for child in children] == list(CHILD_KINDS)


def test_optional_children_are_owned_and_labelled_like_the_others() -> None:
    for child in children_of(every_option()).values():
        metadata = child["metadata"]
        assert metadata["namespace"] == "reviews"
        assert metadata["name"].startswith("imdb")
        assert metadata["ownerReferences"] == [OWNER.owner_reference()]
        assert metadata["labels"]["app.kubernetes.io/instance"] == "imdb"
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "sentiment-operator"


def test_rendering_every_option_is_deterministic() -> None:
    spec = every_option()
    assert render_children(OWNER, spec, "3", SETTINGS) == render_children(
        OWNER, spec, "3", SETTINGS
    )


def test_optional_kinds_name_their_crds_and_conditions() -> None:
    assert optional_kinds() == (SERVICE_MONITOR, TRIGGER_AUTHENTICATION, SCALED_OBJECT)
    assert [kind.crd_name for kind in optional_kinds()] == [
        "servicemonitors.monitoring.coreos.com",
        "triggerauthentications.keda.sh",
        "scaledobjects.keda.sh",
    ]
    assert SCALED_OBJECT.resource == ("keda.sh", "v1alpha1", "scaledobjects")
    assert SERVICE.resource == ("", "v1", "services")
    for kind in optional_kinds():
        assert kind.unavailable_condition in CONDITION_TYPES
    for kind in (DEPLOYMENT, SERVICE, CONFIG_MAP):
        assert kind.crd_name is None
        assert kind.unavailable_condition is None


def test_partition_keeps_what_the_cluster_serves_and_names_each_missing_kind_once() -> None:
    children = render_children(OWNER, every_option(), "3", SETTINGS)
    no_keda = {SERVICE_MONITOR.resource}

    kept, missing = partition_by_crd(children, no_keda)

    assert [child["kind"] for child in kept] == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "ConfigMap",
    ]
    assert missing == [TRIGGER_AUTHENTICATION, SCALED_OBJECT]
    assert partition_by_crd(children, {kind.resource for kind in optional_kinds()}) == (
        children,
        [],
    )


def test_kind_of_refuses_an_object_the_operator_never_renders() -> None:
    with pytest.raises(KeyError, match="Secret"):
        kind_of({"apiVersion": "v1", "kind": "Secret"})


# The validator itself: a misspelt or mistyped field must not get through.
@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("ScaledObject", ("spec", "maxReplicas"), 5),
        ("ScaledObject", ("spec", "pollingInterval"), "15"),
        ("ScaledObject", ("spec", "triggers", 0, "metadata", "serverAdress"), "http://p:9090"),
        ("TriggerAuthentication", ("spec", "secretTargetRef", 0, "secret"), "x"),
        ("ServiceMonitor", ("spec", "endpoints", 0, "intervall"), "5s"),
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "5 seconds"),
        ("ConfigMap", ("datas",), {}),
        ("Service", ("spec", "ports", 1, "port"), "15020"),
    ],
)
def test_the_schema_check_refuses_misspelt_or_mistyped_fields(
    kind: str, path: tuple[str | int, ...], value: Any
) -> None:
    child = copy.deepcopy(children_of(every_option())[kind])
    node: Any = child
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(
        (SchemaError, pydantic.ValidationError, kubernetes_validate.ValidationError)
    ):
        validate_child(child)


def test_every_child_carries_the_labels_its_owner_prunes_by() -> None:
    selector = dict(pair.split("=") for pair in owned_selector(OWNER.name).split(","))
    other = dict(pair.split("=") for pair in owned_selector("another").split(","))
    for child in children_of(every_option()).values():
        labels = child["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert not other.items() <= labels.items()
