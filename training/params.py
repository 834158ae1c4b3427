"""Typed views of ``params.yaml``, the one home of every tunable of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from training.errors import UserError
from training.model import ModelParams

DEFAULT_PARAMS_PATH = Path("params.yaml")
STAGES = ("Staging", "Production", "Archived", "None")

T = TypeVar("T")


@dataclass(frozen=True)
class IngestParams:
    """Where the reviews come from and how they are split (``params.yaml: ingest``)."""

    source: str
    test_size: float = 0.2  # a single CSV only: the Stanford archive keeps its own halves
    seed: int = 42
    max_rows: int | None = None
    deduplicate: bool = True
    download_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not self.source:
            raise UserError("ingest.source is empty: set it to a CSV path or URL in params.yaml")
        if not 0.0 < self.test_size < 1.0:
            raise UserError(f"ingest.test_size must be between 0 and 1, got {self.test_size}")
        if self.max_rows is not None and self.max_rows < 10:
            raise UserError(f"ingest.max_rows must be at least 10 (or null), got {self.max_rows}")


@dataclass(frozen=True)
class RegisterParams:
    """How the trained model is registered and promoted (``params.yaml: register``)."""

    model_name: str = "imdb-sentiment"
    experiment: str = "imdb-sentiment"
    alias: str = "challenger"
    stage: str = ""
    in_experiments: bool = False

    def __post_init__(self) -> None:
        if not self.model_name:
            raise UserError("register.model_name is empty: name the registered model")
        if self.stage and self.stage not in STAGES:
            raise UserError(
                f"register.stage {self.stage!r} is not an MLflow stage: use one of "
                f"{', '.join(STAGES)} or leave it empty"
            )


@dataclass(frozen=True)
class Params:
    """All of ``params.yaml``."""

    ingest: IngestParams
    train: ModelParams
    register: RegisterParams


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise UserError(f"params.yaml: section {name!r} must be a mapping")
    return value


def _build(kind: type[T], values: dict[str, Any], section: str) -> T:
    known = {field.name for field in fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"params.yaml: unknown keys in {section}: {', '.join(unknown)}")
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:
        raise UserError(f"params.yaml: {section}: {error}") from error


def load_params(path: Path = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate ``params.yaml``."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as error:
        raise UserError(f"{path} not found: run the command from the repository root") from error
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a mapping of sections")
    return Params(
        ingest=_build(IngestParams, _section(raw, "ingest"), "ingest"),
        train=_build(ModelParams, _section(raw, "train"), "train"),
        register=_build(RegisterParams, _section(raw, "register"), "register"),
    )
