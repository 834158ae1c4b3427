"""Operator-wide settings, read once from ``SENTIMENT_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where the release workflow publishes the images by default (REGISTRY/OWNER), and their
#: tag: the package version. deploy/kustomization.yaml names the same in its `images:`
#: entry, from which it derives SENTIMENT_DEFAULT_SERVER_IMAGE; a unit test keeps them equal.
IMAGE_REPOSITORY = "ghcr.io/sentiment-operator"
IMAGE_TAG = "0.1.0"
DEFAULT_SERVER_IMAGE = f"{IMAGE_REPOSITORY}/model-server:{IMAGE_TAG}"


class OperatorSettings(BaseSettings):
    """Settings that are the same for every SentimentModel the operator manages.

    Each field is read from ``SENTIMENT_<FIELD>`` (``SENTIMENT_DEFAULT_SERVER_IMAGE``...);
    a value that does not validate stops the operator at start with the field's name.
    """

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", frozen=True, extra="ignore")

    default_server_image: str = Field(
        default=DEFAULT_SERVER_IMAGE,
        min_length=1,
        description="Image when spec.server.image is unset.",
    )
    field_manager: str = Field(
        default="sentiment-operator",
        min_length=1,
        max_length=128,
        description="Server-side apply manager.",
    )
    cluster_domain: str = Field(
        default="cluster.local", min_length=1, description="For status.url."
    )
    retry_seconds: float = Field(
        default=10.0, gt=0, description="Retry of a reconcile after a fault (kopf's backoff)."
    )
    poll_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest pause of a resource's polls after faults."
    )
    registry_timeout_seconds: int = Field(
        default=10, ge=1, le=300, description="Per registry request: to connect, and for each read."
    )
    workers: int = Field(default=8, ge=1, le=64, description="Reconcile threads.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    discovery_seconds: float = Field(
        default=30.0, gt=0, description="How long the list of served optional CRDs is cached."
    )
