"""Operator-wide settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Where the release workflow publishes the images by default (REGISTRY/OWNER), and their
#: tag: the package version. deploy/kustomization.yaml names the same in its `images:`
#: entry, from which it derives SENTIMENT_DEFAULT_SERVER_IMAGE; a unit test keeps them equal.
IMAGE_REPOSITORY = "ghcr.io/sentiment-operator"
IMAGE_TAG = "0.1.0"
DEFAULT_SERVER_IMAGE = f"{IMAGE_REPOSITORY}/model-server:{IMAGE_TAG}"


@dataclass(frozen=True)
class OperatorSettings:
    """Settings that are the same for every SentimentModel the operator manages."""

    default_image: str = DEFAULT_SERVER_IMAGE
    field_manager: str = "sentiment-operator"
    cluster_domain: str = "cluster.local"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        """Build from ``SENTIMENT_*`` variables of ``environ`` (default: the process env)."""
        env = os.environ if environ is None else environ
        return cls(
            default_image=env.get("SENTIMENT_DEFAULT_SERVER_IMAGE") or DEFAULT_SERVER_IMAGE,
            field_manager=env.get("SENTIMENT_FIELD_MANAGER") or cls.field_manager,
            cluster_domain=env.get("SENTIMENT_CLUSTER_DOMAIN") or cls.cluster_domain,
        )
