"""Pod identity and placement, the disruption budget, and a graceful end for every pod."""

from __future__ import annotations

from typing import Any

import pytest
from sentiment_operator.render.labels import selector_labels
from sentiment_operator.spec import SpecError

from model_server.contract import GRACEFUL_SHUTDOWN_SECONDS
from tests.operator.child_schemas import validate_child
from tests.operator.rendering import OWNER, children_of, spec_with

ZONE = "topology.kubernetes.io/zone"
PLACED: dict[str, Any] = {
    "serviceAccountName": "model-reader",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "value": "inference", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "gpu", "operator": "DoesNotExist"}]}]}}},
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
        {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"a": "b"}}},
    ],
}  # fmt: skip


def pod_spec(**server: Any) -> dict[str, Any]:
    deployment = children_of(spec_with(server=server))["Deployment"]
    validate_child(deployment)
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def test_placement_fields_reach_the_pods_and_are_absent_when_unset() -> None:
    placed = pod_spec(**PLACED)
    assert placed["serviceAccountName"] == "model-reader"
    assert placed["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert placed["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"}
    ]
    assert placed["affinity"] == PLACED["affinity"]
    first, second = placed["topologySpreadConstraints"]
    # Without a selector of its own, a constraint counts this resource's pods.
    assert first["labelSelector"] == {"matchLabels": selector_labels(OWNER.name)}
    assert second["labelSelector"] == {"matchLabels": {"a": "b"}}

    plain = pod_spec()
    for field in PLACED:
        assert field not in plain


def test_an_affinity_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(SpecError, match="affinity takes nodeAffinity"):
        spec_with(server={"affinity": {"nodeAfinity": {}}})


def test_a_terminating_pod_keeps_serving_until_the_service_has_let_it_go() -> None:
    spec = pod_spec()
    (container,) = spec["containers"]
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0
    assert spec["terminationGracePeriodSeconds"] > pause + GRACEFUL_SHUTDOWN_SECONDS


@pytest.mark.parametrize(
    ("sections", "budget"),
    [
        ({}, False),
        ({"server": {"replicas": 2}}, True),
        ({"autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 1}}, False),
        ({"autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 3}}, True),
    ],
)
def test_a_disruption_budget_exists_when_more_than_one_replica_may_serve(
    sections: dict[str, Any], budget: bool
) -> None:
    children = children_of(spec_with(**sections))
    assert ("PodDisruptionBudget" in children) is budget
    if budget:
        pdb = children["PodDisruptionBudget"]
        validate_child(pdb)
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"] == children["Deployment"]["spec"]["selector"]


def test_a_node_selector_takes_label_keys_and_values_only() -> None:
    with pytest.raises(SpecError, match="label keys must be"):
        spec_with(server={"nodeSelector": {"not a key": "x"}})
    with pytest.raises(SpecError, match="label value"):
        spec_with(server={"nodeSelector": {"zone": "eu west"}})
    assert spec_with(server={"nodeSelector": {"example.com/pool": "a-1"}}).server.node_selector
