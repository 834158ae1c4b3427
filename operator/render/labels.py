"""The standard ``app.kubernetes.io/*`` labels and the operator's own annotations."""

from __future__ import annotations

from sentiment_operator.rules import valid_label_value
from sentiment_operator.spec import GROUP

APP_NAME = "sentiment-model-server"
COMPONENT = "model-server"
PART_OF = "sentiment-operator"
MANAGED_BY = "sentiment-operator"

VERSION_LABEL = "app.kubernetes.io/version"
MODEL_VERSION_ANNOTATION = f"{GROUP}/model-version"
MODEL_NAME_ANNOTATION = f"{GROUP}/model-name"


def _label_value(value: str) -> str:
    if not valid_label_value(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label value")
    return value


def selector_labels(instance: str) -> dict[str, str]:
    """The stable labels that select a resource's pods: never the version."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": _label_value(instance),
    }


def standard_labels(instance: str, version: str | None = None) -> dict[str, str]:
    """All standard labels of a child; ``version`` is the model version it serves, if any."""
    labels = selector_labels(instance)
    if version is not None:
        labels[VERSION_LABEL] = _label_value(version)
    labels |= {
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    return labels


def owned_selector(instance: str) -> str:
    """The label selector (text form) that every child of the resource ``instance`` matches."""
    labels = selector_labels(instance) | {"app.kubernetes.io/managed-by": MANAGED_BY}
    return ",".join(f"{key}={value}" for key, value in labels.items())
