"""The SentimentModel's status as pydantic models, and the condition convention it follows.

The CRD's status schema is generated from :class:`SentimentModelStatus`; the operator
writes conditions through :func:`set_condition`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ConditionStatus = Literal["True", "False", "Unknown"]
CONDITION_TYPES = (
    "Ready",
    "ModelResolved",
    "Progressing",
    "Degraded",
    "MonitoringUnavailable",
    "AutoscalingUnavailable",
)


class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_StatusModel):
    """One aspect of the resource's state, in the Kubernetes condition convention."""

    type: str = Field(
        max_length=316,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="Ready, ModelResolved, Progressing, Degraded, MonitoringUnavailable or "
        "AutoscalingUnavailable.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase cause of the last transition.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition was set for."
    )


class SentimentModelStatus(_StatusModel):
    """What the operator observed and did."""

    resolved_version: str | None = Field(
        default=None, description="Model version the stage or alias resolved to."
    )
    model_uri: str | None = Field(
        default=None, description="The pinned models:/NAME/VERSION URI the pods load."
    )
    last_ready_version: str | None = Field(
        default=None, description="Latest model version that was fully rolled out and ready."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation last acted on."
    )
    failed_version: str | None = Field(
        default=None,
        description=(
            "Version that missed its progress deadline and was rolled back; not pinned again "
            "until the stage or alias moves on or the spec changes."
        ),
    )
    ready_replicas: int | None = Field(default=None, ge=0, description="Ready model-server pods.")
    url: str | None = Field(default=None, description="In-cluster URL of the Service.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Current conditions of the resource.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


def set_condition(
    conditions: Sequence[Mapping[str, Any] | Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[dict[str, Any]]:
    """Return ``conditions`` (wire form, ready to patch) with the ``type`` condition set.

    ``lastTransitionTime`` stays as it was unless ``status`` changes; the order of the
    other conditions is kept and a new type is appended.
    """
    current = [
        item if isinstance(item, Condition) else Condition.model_validate(item)
        for item in conditions
    ]
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    previous = next((item for item in current if item.type == type), None)
    if previous is not None and previous.status == status:
        since = previous.last_transition_time
    else:
        since = now.astimezone(UTC).replace(microsecond=0)
    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=observed_generation,
    )
    merged = [updated if item.type == type else item for item in current]
    if previous is None:
        merged.append(updated)
    return [item.model_dump(by_alias=True, exclude_none=True, mode="json") for item in merged]
