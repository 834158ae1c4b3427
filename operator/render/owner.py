"""The SentimentModel that owns the rendered children, and their common metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Owner:
    """Identity of the owning resource, as needed for children's metadata."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Owner:
        """Take the identity from a Kubernetes object (e.g. the body kopf hands a handler)."""
        metadata = obj["metadata"]
        return cls(
            api_version=obj["apiVersion"],
            kind=obj["kind"],
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata["uid"],
        )

    def owner_reference(self) -> dict[str, Any]:
        """A controller reference: children are garbage-collected with their owner."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def child_metadata(
    owner: Owner, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Metadata of a child: named after its owner, in its namespace, owned by it."""
    metadata: dict[str, Any] = {
        "name": owner.name,
        "namespace": owner.namespace,
        "labels": dict(labels),
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    metadata["ownerReferences"] = [owner.owner_reference()]
    return metadata
