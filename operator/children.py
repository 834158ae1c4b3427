"""Make the live children of a resource exactly the desired ones, by server-side apply.

Each desired child is applied whole under the operator's field manager with ``force``:
a field the operator stops rendering disappears, fields other managers own (an HPA's
``replicas``, a mesh's annotations) stay. The apply is skipped only while the child is
exactly as this process last left it (same ``resourceVersion``) and the desired object
is unchanged (same digest); any write by anyone else, a restart of the operator or a new
desired object sends it again, and the API server keeps a no-op apply from writing.

Owned children that are no longer desired are found by label selector, confirmed by
their controller reference, and deleted; that listing runs only when the set of desired
children (or of kinds the cluster serves) changes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentiment_operator.kube import ApiError, KubeApi, ObjectRef, api_message

# (apiVersion, kind)
KindKey = tuple[str, str]
OwnerKey = tuple[str, str]  # (namespace, name)


class ChildConflict(Exception):  # noqa: N818 - named after the reason it reports
    """A child's name is taken by an object another controller owns."""

    reason = "ChildConflict"


class ChildRefused(Exception):  # noqa: N818 - named after the reason it reports
    """The API server refused a rendered child (a field it validates and the CRD cannot)."""

    reason = "ChildInvalid"


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for reference in obj.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("controller"):
            uid: str | None = reference.get("uid")
            return uid
    return None


def digest(obj: Mapping[str, Any]) -> str:
    """A stable fingerprint of a desired object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ChildOwner:
    """The resource whose children are applied, and the label selector they all carry."""

    namespace: str
    name: str
    uid: str
    selector: str


@dataclass
class Applied:
    """What applying the children did, and the live children afterwards."""

    created: list[ObjectRef] = field(default_factory=list)
    updated: list[ObjectRef] = field(default_factory=list)
    deleted: list[ObjectRef] = field(default_factory=list)
    live: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The live child of ``kind`` named ``name``, if it was applied."""
        return self.live.get((kind, name))

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.created or self.updated or self.deleted)


@dataclass
class _Memory:
    """What this process last left behind for one owner."""

    applied: dict[ObjectRef, tuple[str, str]] = field(default_factory=dict)  # rv, digest
    pruned_for: tuple[frozenset[ObjectRef], frozenset[KindKey]] | None = None


class ChildApplier:
    """Applies the children of many resources; remembers what it wrote to skip no-ops."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._memory: dict[OwnerKey, _Memory] = {}
        self._lock = threading.Lock()

    def apply(
        self,
        owner: ChildOwner,
        desired: Sequence[Mapping[str, Any]],
        *,
        prunable: Iterable[KindKey] = (),
    ) -> Applied:
        """Apply each desired child; delete owned children of ``prunable`` kinds not desired.

        An object of a desired name controlled by someone else is never touched:
        :class:`ChildConflict`.
        """
        with self._lock:
            memory = self._memory.setdefault((owner.namespace, owner.name), _Memory())
        applied = Applied()
        for child in desired:
            self._apply_one(owner, child, memory, applied)
        kinds = frozenset(prunable)
        wanted = frozenset(ObjectRef.of(child) for child in desired)
        if memory.pruned_for != (wanted, kinds):
            applied.deleted = self._prune(owner, wanted, kinds)
            memory.pruned_for = (wanted, kinds)
        for ref in applied.deleted:
            memory.applied.pop(ref, None)
        return applied

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered of a resource that is gone."""
        with self._lock:
            self._memory.pop((namespace, name), None)

    def _apply_one(
        self, owner: ChildOwner, child: Mapping[str, Any], memory: _Memory, applied: Applied
    ) -> None:
        ref = ObjectRef.of(child)
        fingerprint = digest(child)
        live = self.api.get(ref)
        if live is not None:
            other = controller_uid(live)
            if other is not None and other != owner.uid:
                raise ChildConflict(f"{ref} exists and is controlled by another owner ({other})")
            version = live["metadata"]["resourceVersion"]
            if memory.applied.get(ref) == (version, fingerprint):
                applied.live[ref.kind, ref.name] = live
                return
        try:
            result = self.api.apply(child)
        except ApiError as error:
            if error.status in (400, 422):  # invalid: the same spec would fail every time
                raise ChildRefused(f"{ref} was refused: {api_message(error)}") from None
            raise
        after = result["metadata"]["resourceVersion"]
        memory.applied[ref] = (after, fingerprint)
        applied.live[ref.kind, ref.name] = result
        if live is None:
            applied.created.append(ref)
        elif after != live["metadata"]["resourceVersion"]:
            applied.updated.append(ref)

    def _prune(
        self, owner: ChildOwner, wanted: frozenset[ObjectRef], kinds: frozenset[KindKey]
    ) -> list[ObjectRef]:
        deleted = []
        for api_version, kind in sorted(kinds):
            found = self.api.list(api_version, kind, owner.namespace, selector=owner.selector)
            for obj in found or []:
                ref = ObjectRef(api_version, kind, owner.namespace, obj["metadata"]["name"])
                if ref in wanted or controller_uid(obj) != owner.uid:
                    continue
                if self.api.delete(ref):
                    deleted.append(ref)
        return deleted
