"""The Service in front of the model-server pods."""

from __future__ import annotations

from typing import Any

from sentiment_operator.render import istio
from sentiment_operator.render.labels import selector_labels, standard_labels
from sentiment_operator.render.owner import Owner, child_metadata
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import SentimentModelSpec


def service_url(owner: Owner, spec: SentimentModelSpec, settings: OperatorSettings) -> str:
    """The in-cluster URL of the Service, as reported in ``status.url``."""
    host = f"{owner.name}.{owner.namespace}.svc.{settings.cluster_domain}"
    return f"http://{host}:{spec.service.port}"


def render_service(
    owner: Owner, spec: SentimentModelSpec, settings: OperatorSettings
) -> dict[str, Any]:
    """A Service selecting every version's pods, so a rollout never changes it."""
    del settings  # part of every renderer's signature; nothing here depends on it yet
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(owner, standard_labels(owner.name)),
        "spec": {
            "type": spec.service.type,
            "selector": selector_labels(owner.name),
            "ports": [
                {
                    "name": "http",
                    "port": spec.service.port,
                    "targetPort": "http",
                    "protocol": "TCP",
                },
                *istio.service_ports(spec),
            ],
        },
    }
