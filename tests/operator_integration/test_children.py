"""Applying children: create, leave alone, update, prune, and never take over others'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sentiment_operator.children import ChildConflict, apply_children
from sentiment_operator.kube import KubeApi, ObjectRef

from tests.operator_integration.harness import Cluster

pytestmark = pytest.mark.integration
KINDS = (("v1", "ConfigMap"), ("v1", "Service"))
SERVICE_SPEC = {"ports": [{"port": 80}]}


@dataclass
class Owners:
    """Real owner objects, so the garbage collector keeps their children."""

    api: KubeApi
    namespace: str
    uids: dict[str, str]

    def child(self, kind: str, name: str, owner: str, **fields: Any) -> dict[str, Any]:
        reference = {"apiVersion": "v1", "kind": "Secret", "name": owner,
                     "uid": self.uids[owner], "controller": True}  # fmt: skip
        metadata = {"name": name, "namespace": self.namespace, "ownerReferences": [reference]}
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **fields}

    def apply(self, desired: list[dict[str, Any]], owner: str = "u1") -> Any:
        return apply_children(
            self.api, desired, namespace=self.namespace, owner_uid=self.uids[owner], prunable=KINDS
        )

    def ref(self, kind: str, name: str) -> ObjectRef:
        return ObjectRef("v1", kind, self.namespace, name)


@pytest.fixture
def owners(cluster: Cluster, namespace: str) -> Owners:
    uids = {}
    for owner in ("u1", "u2"):
        made = cluster.api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": owner, "namespace": namespace},
            }
        )
        uids[owner] = made["metadata"]["uid"]
    return Owners(cluster.api, namespace, uids)


def test_children_are_created_then_left_alone_then_updated(owners: Owners) -> None:
    first = owners.apply([owners.child("ConfigMap", "a", "u1", data={"k": "1"})])
    second = owners.apply([owners.child("ConfigMap", "a", "u1", data={"k": "1"})])
    third = owners.apply([owners.child("ConfigMap", "a", "u1", data={"k": "2"})])

    ref = owners.ref("ConfigMap", "a")
    assert (first.created, first.updated) == ([ref], [])
    assert not second.changed
    assert (third.created, third.updated) == ([], [ref])
    assert (owners.api.get(ref) or {})["data"] == {"k": "2"}


def test_a_kind_no_longer_desired_is_deleted_if_owned(owners: Owners) -> None:
    both = [
        owners.child("ConfigMap", "a", "u1", data={}),
        owners.child("Service", "a", "u1", spec=SERVICE_SPEC),
    ]
    owners.apply(both)
    owners.api.create(owners.child("Service", "foreign", "u2", spec=SERVICE_SPEC))

    applied = owners.apply(both[:1])

    assert applied.deleted == [owners.ref("Service", "a")]
    assert owners.api.get(owners.ref("Service", "a")) is None
    assert owners.api.get(owners.ref("Service", "foreign")) is not None


def test_a_name_taken_by_another_owner_is_a_conflict(owners: Owners) -> None:
    owners.api.create(owners.child("ConfigMap", "a", "u2", data={"k": "theirs"}))
    with pytest.raises(ChildConflict, match="another owner"):
        owners.apply([owners.child("ConfigMap", "a", "u1", data={"k": "ours"})])
    assert (owners.api.get(owners.ref("ConfigMap", "a")) or {})["data"] == {"k": "theirs"}
