"""Every kind of child the operator renders, and the CRD that an optional one needs.

The handler asks discovery which resources the cluster serves, skips the children whose
CRD is absent (reporting ``unavailable_condition``) and prunes owned children of kinds
that are no longer desired.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# (group, version, plural): how discovery names a resource; the core group is "".
Resource = tuple[str, str, str]


@dataclass(frozen=True)
class ChildKind:
    """One kind of child object and what the cluster must serve to accept it."""

    api_version: str
    kind: str
    plural: str
    required_crd: bool
    unavailable_condition: str | None = None

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version within the group."""
        return self.api_version.rpartition("/")[2]

    @property
    def resource(self) -> Resource:
        """(group, version, plural), as discovery lists it."""
        return self.group, self.version, self.plural

    @property
    def crd_name(self) -> str | None:
        """Name of the CustomResourceDefinition that serves this kind, if it needs one."""
        return f"{self.plural}.{self.group}" if self.required_crd else None


DEPLOYMENT = ChildKind("apps/v1", "Deployment", "deployments", required_crd=False)
SERVICE = ChildKind("v1", "Service", "services", required_crd=False)
SERVICE_MONITOR = ChildKind(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    "servicemonitors",
    required_crd=True,
    unavailable_condition="MonitoringUnavailable",
)
TRIGGER_AUTHENTICATION = ChildKind(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    "triggerauthentications",
    required_crd=True,
    unavailable_condition="AutoscalingUnavailable",
)
SCALED_OBJECT = ChildKind(
    "keda.sh/v1alpha1",
    "ScaledObject",
    "scaledobjects",
    required_crd=True,
    unavailable_condition="AutoscalingUnavailable",
)
CONFIG_MAP = ChildKind("v1", "ConfigMap", "configmaps", required_crd=False)
DISRUPTION_BUDGET = ChildKind(
    "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", required_crd=False
)

# In apply order: a TriggerAuthentication exists before the ScaledObject that refers to it.
CHILD_KINDS: tuple[ChildKind, ...] = (
    DEPLOYMENT,
    SERVICE,
    DISRUPTION_BUDGET,
    SERVICE_MONITOR,
    TRIGGER_AUTHENTICATION,
    SCALED_OBJECT,
    CONFIG_MAP,
)


def optional_kinds() -> tuple[ChildKind, ...]:
    """The kinds served only when their CRD is installed (Prometheus Operator, KEDA)."""
    return tuple(kind for kind in CHILD_KINDS if kind.required_crd)


def kind_of(child: Mapping[str, Any]) -> ChildKind:
    """The ChildKind of a rendered child; ``KeyError`` for a kind the operator never renders."""
    key = (child["apiVersion"], child["kind"])
    for kind in CHILD_KINDS:
        if (kind.api_version, kind.kind) == key:
            return kind
    raise KeyError(f"not a child kind of the operator: {key}")


def partition_by_crd(
    children: Iterable[dict[str, Any]], served: Collection[Resource]
) -> tuple[list[dict[str, Any]], list[ChildKind]]:
    """Split desired children into those the cluster can take and the kinds it cannot.

    ``served`` holds the (group, version, plural) resources discovery reports. Kinds
    that need no CRD are always kept. The missing kinds come once each, in order.
    """
    kept: list[dict[str, Any]] = []
    missing: list[ChildKind] = []
    for child in children:
        kind = kind_of(child)
        if not kind.required_crd or kind.resource in served:
            kept.append(child)
        elif kind not in missing:
            missing.append(kind)
    return kept, missing
