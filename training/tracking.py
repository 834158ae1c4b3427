"""Where runs and registered models go: an MLflow server, DagsHub, or an embedded store.

Order of precedence: DagsHub when ``DAGSHUB_REPO=owner/name`` and a token are set;
else ``MLFLOW_TRACKING_URI``; else a SQLite file and an artifact folder in the
repository (both git-ignored). Tokens are passed on through the environment of this
process only; they are never printed or written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from training.errors import UserError

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"


class Backend(Enum):
    """Kinds of tracking back end."""

    DAGSHUB = "dagshub"
    SERVER = "server"
    EMBEDDED = "embedded"


@dataclass(frozen=True)
class TrackingTarget:
    """The chosen back end; ``token`` is excluded from the repr so it cannot leak into logs."""

    backend: Backend
    uri: str
    artifact_location: str | None = None
    dagshub_repo: str | None = None
    token: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """A line for logs, free of credentials."""
        if self.backend is Backend.DAGSHUB:
            return f"DagsHub repository {self.dagshub_repo}"
        return f"{self.backend.value} tracking at {redact(self.uri)}"


def redact(uri: str) -> str:
    """``uri`` with any ``user:password@`` part removed."""
    scheme, sep, rest = uri.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return uri


def embedded_uri(repo_root: Path) -> str:
    """The SQLite tracking URI of the embedded store under ``repo_root``."""
    return f"sqlite:///{(repo_root / EMBEDDED_DB).resolve()}"


def choose_tracking(env: Mapping[str, str], repo_root: Path) -> TrackingTarget:
    """Pick the back end from the environment, without touching the network."""
    dagshub_repo = env.get("DAGSHUB_REPO", "").strip()
    if dagshub_repo:
        owner, _, name = dagshub_repo.partition("/")
        if not owner or not name or "/" in name:
            raise UserError(f"DAGSHUB_REPO must look like owner/name, got {dagshub_repo!r}")
        token = env.get("DAGSHUB_TOKEN") or env.get("MLFLOW_TRACKING_PASSWORD")
        if not token:
            raise UserError(
                "DAGSHUB_REPO is set but no token: set DAGSHUB_TOKEN (or MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD)"
            )
        return TrackingTarget(
            Backend.DAGSHUB,
            uri=f"https://dagshub.com/{owner}/{name}.mlflow",
            dagshub_repo=dagshub_repo,
            token=token,
        )
    uri = env.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return TrackingTarget(Backend.SERVER, uri=uri)
    return TrackingTarget(
        Backend.EMBEDDED,
        uri=embedded_uri(repo_root),
        artifact_location=(repo_root / EMBEDDED_ARTIFACTS).resolve().as_uri(),
    )


def apply_tracking(target: TrackingTarget, env: MutableMapping[str, str] | None = None) -> None:
    """Point this process's MLflow client at ``target``."""
    import mlflow

    env = os.environ if env is None else env
    # MLflow's defaults retry an unreachable server for minutes; a command line should not.
    env.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    env.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    if target.backend is Backend.DAGSHUB:
        assert target.dagshub_repo is not None
        assert target.token is not None
        # dagshub reads its token from the environment when imported.
        env["DAGSHUB_USER_TOKEN"] = target.token
        from dagshub.common.init import init as dagshub_init

        owner, name = target.dagshub_repo.split("/")
        dagshub_init(repo_owner=owner, repo_name=name, mlflow=True)
        return
    env["MLFLOW_TRACKING_URI"] = target.uri
    mlflow.set_tracking_uri(target.uri)


def configure_tracking(repo_root: Path = Path()) -> TrackingTarget:
    """Choose and apply the tracking back end for this process."""
    target = choose_tracking(os.environ, repo_root)
    apply_tracking(target)
    return target
