"""The server's settings, read from the environment (``pydantic-settings``) and nowhere else.

MLflow's own variables (``MLFLOW_TRACKING_USERNAME``, ``MLFLOW_TRACKING_PASSWORD``,
``MLFLOW_TRACKING_TOKEN``...) are read by MLflow itself; they are never copied
here, so they can never be logged by accident. A blank variable means its default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_server import contract
from model_server.redaction import redact

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: gunicorn worker classes: ``gevent`` reads every connection cooperatively (the default);
#: ``gthread`` reads request heads on a pool thread (kept to compare against).
WORKER_CLASSES = ("gevent", "gthread")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_VALUE_ERROR = "Value error, "


class ConfigError(ValueError):
    """One or more environment variables are missing or malformed."""


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: the cgroup CPU limit when one is set, else its affinity.

    ``os.cpu_count()`` would report the node's cores, not the pod's limit.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _whole(maximum: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, int):
            value = raw
        else:
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise ValueError("must be a whole number") from None
        if value < 1 or (maximum is not None and value > maximum):
            bound = f" and at most {maximum}" if maximum is not None else ""
            raise ValueError(f"must be at least 1{bound}")
        return value

    return parse


def _level(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


def _worker_class(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value not in WORKER_CLASSES:
        raise ValueError(f"must be one of {', '.join(WORKER_CLASSES)}")
    return value


def _text(raw: Any) -> Any:
    return raw.strip() if isinstance(raw, str) else raw


Count = Annotated[int, BeforeValidator(_whole())]
Text = Annotated[str, BeforeValidator(_text)]


class Settings(BaseSettings):
    """Everything the server is told by its environment (each field's alias is its variable)."""

    model_config = SettingsConfigDict(
        case_sensitive=True, env_ignore_empty=True, extra="ignore", frozen=True
    )

    model_uri: Text = Field(alias=contract.ENV_MODEL_URI, min_length=1)
    workers: Count = Field(alias=contract.ENV_WORKERS, default_factory=available_cpus)
    worker_class: Annotated[str, BeforeValidator(_worker_class)] = Field(
        "gevent", alias="WORKER_CLASS"
    )
    worker_connections: Count = Field(1000, alias="WORKER_CONNECTIONS")
    reuse_port: bool = Field(True, alias="REUSE_PORT")
    threads: Count = Field(32, alias="THREADS")
    host: Text = Field("0.0.0.0", alias="HOST")
    port: Annotated[int, BeforeValidator(_whole(65535))] = Field(
        contract.DEFAULT_PORT, alias=contract.ENV_PORT
    )
    max_batch_size: Count = Field(1000, alias="MAX_BATCH_SIZE")
    max_body_bytes: Count = Field(1 << 20, alias="MAX_BODY_BYTES")
    max_review_chars: Count = Field(100_000, alias="MAX_REVIEW_CHARS")
    max_csv_columns: Count = Field(64, alias="MAX_CSV_COLUMNS")
    registry_timeout_seconds: Count = Field(30, alias="REGISTRY_TIMEOUT_SECONDS")
    header_timeout_seconds: Count = Field(5, alias="HEADER_TIMEOUT_SECONDS")
    body_timeout_seconds: Count = Field(10, alias="BODY_TIMEOUT_SECONDS")
    metrics_dir: Text | None = Field(None, alias=contract.ENV_METRICS_DIR)
    log_level: Annotated[str, BeforeValidator(_level)] = Field("info", alias="LOG_LEVEL")
    model_name: Text | None = Field(None, alias=contract.ENV_MODEL_NAME)
    model_version: Text | None = Field(None, alias=contract.ENV_MODEL_VERSION)
    tracking_uri: Text | None = Field(None, alias=contract.ENV_TRACKING_URI)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the settings (default: ``os.environ``), reporting every bad variable at once."""
        try:
            if env is None:
                return cls()  # type: ignore[call-arg]  # read from os.environ
            return cls.model_validate({k: v for k, v in env.items() if v.strip()})
        except ValidationError as error:
            raise ConfigError("; ".join(_problems(error))) from None

    @property
    def safe_tracking_uri(self) -> str:
        """The tracking URI without any user:password part, fit for a log line."""
        return redact(self.tracking_uri) if self.tracking_uri else "(MLflow default)"


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"])
        if item["type"] in ("missing", "string_too_short"):
            problems.append(f"{name} is required")
        else:
            message = str(item["msg"]).removeprefix(_VALUE_ERROR)
            problems.append(f"{name}={item.get('input')!r}: {message}")
    return problems
