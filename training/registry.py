"""Moves in the MLflow Model Registry: add a version, describe it, set its alias or stage.

Aliases are MLflow 3's way to name a version; stages still work but are deprecated,
and MLflow's FutureWarning about them is left for the user to see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from training.errors import UserError


@dataclass(frozen=True)
class Promotion:
    """What a promotion did."""

    model_name: str
    version: str
    stage: str | None
    alias: str | None
    archived: tuple[str, ...]
    previous_alias_holder: str | None

    def describe(self) -> str:
        """One line for the user."""
        moves = []
        if self.stage:
            archived = f" (archived v{', v'.join(self.archived)})" if self.archived else ""
            moves.append(f"stage {self.stage}{archived}")
        if self.alias:
            before = f", was v{self.previous_alias_holder}" if self.previous_alias_holder else ""
            moves.append(f"alias @{self.alias}{before}")
        return f"{self.model_name} v{self.version} -> {' and '.join(moves)}"


def _registry_error(action: str, error: MlflowException) -> UserError:
    return UserError(f"{action} failed: {error.message}")


def newest_version(client: MlflowClient, model_name: str) -> str:
    """The highest version number of ``model_name``."""
    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException as error:
        raise _registry_error(f"listing versions of {model_name}", error) from error
    if not versions:
        raise UserError(
            f"registered model {model_name!r} has no versions: run the pipeline (dvc repro) first"
        )
    return str(max(int(version.version) for version in versions))


def wait_until_ready(
    client: MlflowClient, model_name: str, version: str, timeout: float = 120.0
) -> ModelVersion:
    """Wait for a new version's status to leave PENDING_REGISTRATION."""
    deadline = time.monotonic() + timeout
    while True:
        model_version = client.get_model_version(model_name, version)
        if model_version.status != "PENDING_REGISTRATION":
            return model_version
        if time.monotonic() > deadline:
            raise UserError(f"{model_name} v{version} still pending registration after {timeout}s")
        time.sleep(0.5)


def register_version(
    client: MlflowClient, model_name: str, model_id: str, run_id: str, tags: dict[str, str]
) -> str:
    """Register logged model ``model_id`` as a new version of ``model_name``; its number."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    try:
        created = client.create_model_version(
            model_name, source=f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id
        )
    except MlflowException as error:
        raise _registry_error(f"registering a version of {model_name}", error) from error
    version = str(created.version)
    wait_until_ready(client, model_name, version)
    return version


def describe(client: MlflowClient, model_name: str, version: str, card: str) -> None:
    """Put the model card on the version and on the registered model (its newest card)."""
    client.update_model_version(model_name, version, description=card)
    client.update_registered_model(model_name, description=card)


def _stage_holders(client: MlflowClient, model_name: str, stage: str) -> list[str]:
    holders = client.get_latest_versions(model_name, stages=[stage])
    return [str(holder.version) for holder in holders]


def _alias_holder(client: MlflowClient, model_name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def promote(
    client: MlflowClient,
    model_name: str,
    *,
    version: str | None = None,
    stage: str | None = None,
    alias: str | None = None,
    archive_existing: bool = True,
) -> Promotion:
    """Move ``version`` (default: the newest) to ``stage`` and/or ``alias``.

    With ``archive_existing`` the versions that held ``stage`` are moved to Archived.
    """
    if not stage and not alias:
        raise UserError("nothing to do: give a stage, an alias or both")
    version = version or newest_version(client, model_name)
    try:
        client.get_model_version(model_name, version)
    except MlflowException as error:
        raise UserError(f"{model_name} v{version} does not exist: {error.message}") from error
    archived: tuple[str, ...] = ()
    previous_alias = None
    try:
        if stage:
            before = _stage_holders(client, model_name, stage)
            client.transition_model_version_stage(
                model_name,
                version,
                stage,
                archive_existing_versions=archive_existing and stage != "Archived",
            )
            if archive_existing:
                archived = tuple(held for held in before if held != version)
        if alias:
            previous_alias = _alias_holder(client, model_name, alias)
            client.set_registered_model_alias(model_name, alias, version)
    except MlflowException as error:
        raise _registry_error(f"promoting {model_name} v{version}", error) from error
    return Promotion(model_name, version, stage or None, alias or None, archived, previous_alias)
