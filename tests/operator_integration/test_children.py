"""Applying children: create, leave alone, update, prune, and never take over others'."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sentiment_operator.children import ChildConflict, apply_children
from sentiment_operator.kube import KubeApi, ObjectRef

from tests.support.kube_emulator import kube_emulator

KINDS = (("v1", "ConfigMap"), ("v1", "Service"))


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    with kube_emulator(tmp_path_factory.mktemp("children")) as emulator:
        yield KubeApi(emulator.api_client(), field_manager="tests")


def child(kind: str, name: str, owner: str, **fields: Any) -> dict[str, Any]:
    reference = {"apiVersion": "x/v1", "kind": "Owner", "name": "o", "uid": owner,
                 "controller": True}  # fmt: skip
    metadata = {"name": name, "namespace": "ns", "ownerReferences": [reference]}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **fields}


def test_children_are_created_then_left_alone_then_updated(api: KubeApi) -> None:
    desired = [child("ConfigMap", "a", "u1", data={"k": "1"})]
    first = apply_children(api, desired, namespace="ns", owner_uid="u1", prunable=KINDS)
    second = apply_children(api, desired, namespace="ns", owner_uid="u1", prunable=KINDS)
    changed = [child("ConfigMap", "a", "u1", data={"k": "2"})]
    third = apply_children(api, changed, namespace="ns", owner_uid="u1", prunable=KINDS)

    ref = ObjectRef("v1", "ConfigMap", "ns", "a")
    assert (first.created, first.updated) == ([ref], [])
    assert not second.changed
    assert (third.created, third.updated) == ([], [ref])
    assert (api.get(ref) or {})["data"] == {"k": "2"}


def test_a_kind_no_longer_desired_is_deleted_if_owned(api: KubeApi) -> None:
    both = [child("ConfigMap", "a", "u1", data={}), child("Service", "a", "u1", spec={})]
    apply_children(api, both, namespace="ns", owner_uid="u1", prunable=KINDS)
    api.create(child("Service", "foreign", "u2", spec={}))

    applied = apply_children(api, both[:1], namespace="ns", owner_uid="u1", prunable=KINDS)

    assert applied.deleted == [ObjectRef("v1", "Service", "ns", "a")]
    assert api.get(ObjectRef("v1", "Service", "ns", "a")) is None
    assert api.get(ObjectRef("v1", "Service", "ns", "foreign")) is not None


def test_a_name_taken_by_another_owner_is_a_conflict(api: KubeApi) -> None:
    api.create(child("ConfigMap", "a", "someone-else", data={"k": "theirs"}))
    with pytest.raises(ChildConflict, match="another owner"):
        apply_children(api, [child("ConfigMap", "a", "u1", data={"k": "ours"})],
                       namespace="ns", owner_uid="u1")  # fmt: skip
    assert (api.get(ObjectRef("v1", "ConfigMap", "ns", "a")) or {})["data"] == {"k": "theirs"}
