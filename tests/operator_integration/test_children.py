"""Applying children: create, leave alone, update, remove fields, prune, never take over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sentiment_operator.children import ChildApplier, ChildConflict, ChildOwner
from sentiment_operator.kube import KubeApi, ObjectRef
from sentiment_operator.render.labels import owned_selector, standard_labels

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
    applier: ChildApplier

    def child(
        self, kind: str, name: str, owner: str, labels: dict[str, str] | None = None, **fields: Any
    ) -> dict[str, Any]:
        reference = {"apiVersion": "v1", "kind": "Secret", "name": owner,
                     "uid": self.uids[owner], "controller": True}  # fmt: skip
        metadata = {
            "name": name,
            "namespace": self.namespace,
            "labels": standard_labels(owner) | (labels or {}),
            "ownerReferences": [reference],
        }
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **fields}

    def apply(self, desired: list[dict[str, Any]], owner: str = "u1") -> Any:
        child_owner = ChildOwner(self.namespace, owner, self.uids[owner], owned_selector(owner))
        return self.applier.apply(child_owner, desired, prunable=KINDS)

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
    # The operator's own field manager name, beside the tests' client ("tests").
    operator_api = cluster.api.with_manager("sentiment-operator")
    return Owners(operator_api, namespace, uids, ChildApplier(operator_api))


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


def test_a_field_no_longer_rendered_disappears_and_other_managers_fields_stay(
    owners: Owners, cluster: Cluster
) -> None:
    ref = owners.ref("ConfigMap", "a")
    extra = {"sidecar.istio.io/inject": "true"}
    owners.apply([owners.child("ConfigMap", "a", "u1", labels=extra, data={"k": "1", "x": "2"})])
    # Another manager (a mesh, a person with kubectl) adds a label of its own.
    cluster.api.patch(ref, {"metadata": {"labels": {"team": "search"}}})

    applied = owners.apply([owners.child("ConfigMap", "a", "u1", data={"k": "1"})])

    live = owners.api.get(ref) or {}
    assert applied.updated == [ref]
    assert live["data"] == {"k": "1"}
    assert "sidecar.istio.io/inject" not in live["metadata"]["labels"]
    assert live["metadata"]["labels"]["team"] == "search"


def test_a_hand_edit_is_put_back_and_an_untouched_child_is_not_written(owners: Owners) -> None:
    ref = owners.ref("ConfigMap", "a")
    desired = [owners.child("ConfigMap", "a", "u1", data={"k": "1"})]
    owners.apply(desired)
    version = (owners.api.get(ref) or {})["metadata"]["resourceVersion"]
    assert not owners.apply(desired).changed
    assert (owners.api.get(ref) or {})["metadata"]["resourceVersion"] == version

    owners.api.with_manager("kubectl-edit").patch(ref, {"data": {"k": "9"}})
    restored = owners.apply(desired)

    assert restored.updated == [ref]
    assert (owners.api.get(ref) or {})["data"] == {"k": "1"}


def test_a_new_operator_process_applies_once_without_changing_anything(owners: Owners) -> None:
    desired = [owners.child("ConfigMap", "a", "u1", data={"k": "1"})]
    owners.apply(desired)
    version = (owners.api.get(owners.ref("ConfigMap", "a")) or {})["metadata"]["resourceVersion"]

    restarted = Owners(owners.api, owners.namespace, owners.uids, ChildApplier(owners.api))
    applied = restarted.apply(desired)

    assert not applied.changed
    live = owners.api.get(owners.ref("ConfigMap", "a")) or {}
    assert live["metadata"]["resourceVersion"] == version
