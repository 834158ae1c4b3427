"""The server's settings, read from the environment and nowhere else.

MLflow's own variables (``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_USERNAME``,
``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``...) are read by MLflow
itself; they are never copied here, so they can never be logged by accident.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from model_server.redaction import redact

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more environment variables are missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the server is told by its environment."""

    model_uri: str
    workers: int
    threads: int = 32
    host: str = "0.0.0.0"
    port: int = 8080
    max_batch_size: int = 1000
    max_body_bytes: int = 1 << 20
    metrics_dir: str | None = None
    log_level: str = "info"
    model_name: str | None = None
    model_version: str | None = None
    tracking_uri: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the settings, reporting every bad variable at once."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            model_uri=reader.text("MODEL_URI", required=True) or "",
            workers=reader.number("WORKERS", available_cpus()),
            threads=reader.number("THREADS", cls.threads),
            host=reader.text("HOST") or cls.host,
            port=reader.number("PORT", cls.port, maximum=65535),
            max_batch_size=reader.number("MAX_BATCH_SIZE", cls.max_batch_size),
            max_body_bytes=reader.number("MAX_BODY_BYTES", cls.max_body_bytes),
            metrics_dir=reader.text("PROMETHEUS_MULTIPROC_DIR"),
            log_level=reader.choice("LOG_LEVEL", cls.log_level, LOG_LEVELS),
            model_name=reader.text("MODEL_NAME"),
            model_version=reader.text("MODEL_VERSION"),
            tracking_uri=reader.text("MLFLOW_TRACKING_URI"),
        )
        if reader.problems:
            raise ConfigError("; ".join(reader.problems))
        return settings

    @property
    def safe_tracking_uri(self) -> str:
        """The tracking URI without any user:password part, fit for a log line."""
        return redact(self.tracking_uri) if self.tracking_uri else "(MLflow default)"


class _Reader:
    """Reads typed values from an environment mapping, collecting problems."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.env.get(name, "").strip()
        if not value and required:
            self.problems.append(f"{name} is required")
        return value or None

    def number(self, name: str, default: int, *, maximum: int | None = None) -> int:
        return self._parse(name, default, lambda raw: _positive_int(raw, maximum))

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(raw: str) -> str:
            if raw.lower() not in choices:
                raise ValueError(f"must be one of {', '.join(choices)}")
            return raw.lower()

        return self._parse(name, default, parse)

    def _parse(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            self.problems.append(f"{name}={raw!r}: {error}")
            return default


def _positive_int(raw: str, maximum: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"must be at least 1{bound}")
    return value


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
