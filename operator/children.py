"""Make the live children of a resource match the desired ones, writing only differences.

Every reconcile applies the full desired state, but an object that already contains
it is not written: an unchanged cluster sees reads only, and the operator's own
writes do not echo back as endless change events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentiment_operator.kube import KubeApi, ObjectRef


class ChildConflict(Exception):  # noqa: N818 - named after the reason it reports
    """A child's name is taken by an object another controller owns."""

    reason = "ChildConflict"


def contains(live: Any, desired: Any) -> bool:
    """Whether ``live`` has every field of ``desired`` with the same value.

    Lists must have the same length and match item by item: the API server fills
    defaults into the items (``protocol``, ``imagePullPolicy``...) but keeps order.
    """
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    if isinstance(desired, int | float) and isinstance(live, str) and not isinstance(desired, bool):
        return live == str(desired)  # a quantity given as a number comes back as a string
    return bool(live == desired)


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for reference in obj.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("controller"):
            uid: str | None = reference.get("uid")
            return uid
    return None


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


def apply_children(
    api: KubeApi,
    desired: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    owner_uid: str,
    prunable: Iterable[tuple[str, str]] = (),
) -> Applied:
    """Create or update each desired child; delete owned children of kinds no longer desired.

    ``prunable`` lists the (apiVersion, kind) pairs the operator may create at all; of
    those absent from ``desired``, the objects in ``namespace`` controlled by
    ``owner_uid`` are deleted (a kind the cluster does not serve has nothing to delete).
    An object of the same name controlled by someone else is never touched:
    :class:`ChildConflict`.
    """
    applied = Applied()
    for child in desired:
        ref = ObjectRef.of(child)
        live = api.get(ref)
        if live is not None:
            other = controller_uid(live)
            if other is not None and other != owner_uid:
                raise ChildConflict(f"{ref} exists and is controlled by another owner ({other})")
            if contains(live, child):
                applied.live[ref.kind, ref.name] = live
                continue
        applied.live[ref.kind, ref.name] = api.apply(child)
        (applied.created if live is None else applied.updated).append(ref)

    wanted = {(child["apiVersion"], child["kind"]) for child in desired}
    for api_version, kind in prunable:
        if (api_version, kind) in wanted:
            continue
        for obj in api.list(api_version, kind, namespace) or []:
            if controller_uid(obj) == owner_uid:
                ref = ObjectRef(api_version, kind, namespace, obj["metadata"]["name"])
                if api.delete(ref):
                    applied.deleted.append(ref)
    return applied
