"""Resolve a registry stage or alias to a concrete model version.

The operator never deploys a floating stage: it asks the MLflow Model Registry which
version a stage or alias points to right now and pins that. Failures are sorted into
what the operator reports and retries differently: the registry could not be asked
(:class:`RegistryUnavailable`), refused us (:class:`RegistryAccessDenied`), or has no
such model, stage version or alias (:class:`ModelNotFound`).

HTTP registries are asked through MLflow's REST API (:mod:`sentiment_operator.mlflow_rest`),
not MLflow's client: importing MLflow would cost the operator process about 110 MiB, and
its public client reads credentials only from the process environment
(``MLFLOW_TRACKING_USERNAME`` ...), which two resources with different Secrets would race
on. Here the credentials come per call from the resource's Secret. Local stores (``sqlite:``,
``file:``), which only ``sentiment-operator render --tracking-uri`` can name, are read with
MLflow's client, imported then.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import ClassVar

from sentiment_operator import mlflow_rest
from sentiment_operator.mlflow_rest import RestError

USERNAME_KEY = "MLFLOW_TRACKING_USERNAME"
PASSWORD_KEY = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105 - the name of a key, not a password
TOKEN_KEY = "MLFLOW_TRACKING_TOKEN"  # noqa: S105 - the name of a key, not a token
CREDENTIAL_KEYS = (USERNAME_KEY, PASSWORD_KEY, TOKEN_KEY)


class RegistryError(Exception):
    """The version behind a stage or alias could not be resolved; ``reason`` says why."""

    reason: ClassVar[str] = "RegistryError"


class RegistryUnavailable(RegistryError):  # noqa: N818 - the reason it reports
    """The registry did not answer, or answered with a server error."""

    reason: ClassVar[str] = "RegistryUnavailable"


class RegistryAccessDenied(RegistryError):  # noqa: N818 - the reason it reports
    """The registry denied access: no, wrong or insufficient credentials (HTTP 401/403)."""

    reason: ClassVar[str] = "RegistryAccessDenied"


class ModelNotFound(RegistryError):  # noqa: N818 - the reason it reports
    """No such registered model, no version in the stage, or no such alias."""

    reason: ClassVar[str] = "ModelNotFound"


def selector_text(stage: str | None, alias: str | None) -> str:
    """How a stage or alias is named in messages: ``stage Production`` or ``alias @champion``."""
    return f"alias @{alias}" if alias is not None else f"stage {stage}"


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` without the ``user:password@`` part of any URL in it."""
    return _USERINFO.sub("***@", text)


def _classify(
    failure: RestError, model_name: str, selector: str, tracking_uri: str
) -> RegistryError:
    status = failure.status
    detail = failure.message.splitlines()[0] if failure.message.strip() else "no answer"
    where = redact(tracking_uri)
    if status in (401, 403):
        message = f"the registry at {where} denied access (HTTP {status}): check the credentials"
        return RegistryAccessDenied(message)
    if status in (400, 404):
        return ModelNotFound(redact(f"registered model {model_name!r} has no {selector}: {detail}"))
    return RegistryUnavailable(redact(f"the registry at {where} is unavailable: {detail}"))


def _ask_server(
    tracking_uri: str,
    model_name: str,
    stage: str | None,
    alias: str | None,
    credentials: Mapping[str, str] | None,
) -> list[str]:
    given = credentials or {}
    client = mlflow_rest.RegistryClient(
        tracking_uri,
        username=given.get(USERNAME_KEY) or None,
        password=given.get(PASSWORD_KEY) or None,
        token=given.get(TOKEN_KEY) or None,
    )
    if alias is not None:
        return [client.version_by_alias(model_name, alias)]
    return client.latest_versions(model_name, [str(stage)])


def _ask_local_store(
    tracking_uri: str, model_name: str, stage: str | None, alias: str | None
) -> list[str]:
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        message = f"reading {tracking_uri} needs MLflow (pip install mlflow-skinny)"
        raise RestError(message) from None
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if alias is not None:
            return [str(client.get_model_version_by_alias(model_name, alias).version)]
        with warnings.catch_warnings():
            # Stages are deprecated in MLflow 3 but still served; the warning is noise here.
            warnings.simplefilter("ignore", FutureWarning)
            versions = client.get_latest_versions(model_name, stages=[str(stage)])
        return [str(version.version) for version in versions]
    except MlflowException as error:
        raise RestError(error.message, error.get_http_status_code()) from None  # type: ignore[no-untyped-call]
    except OSError as error:  # e.g. a store whose path cannot be opened
        raise RestError(str(error)) from None


def resolve_version(
    tracking_uri: str,
    model_name: str,
    *,
    stage: str | None,
    alias: str | None,
    credentials: Mapping[str, str] | None = None,
) -> str:
    """The version number (as a string) that ``stage`` or ``alias`` points to right now.

    Exactly one of ``stage`` and ``alias`` is given. For a stage, the highest version
    in it wins (MLflow allows several versions in one stage). ``credentials`` holds the
    ``MLFLOW_TRACKING_*`` keys of the resource's Secret.
    """
    if (stage is None) == (alias is None):
        raise ValueError("exactly one of stage and alias must be given")
    selector = selector_text(stage, alias)
    try:
        if tracking_uri.startswith(("http://", "https://")):
            versions = _ask_server(tracking_uri, model_name, stage, alias, credentials)
        else:
            versions = _ask_local_store(tracking_uri, model_name, stage, alias)
    except RestError as failure:
        raise _classify(failure, model_name, selector, tracking_uri) from None
    if not versions:
        raise ModelNotFound(f"registered model {model_name!r} has no version in {selector}")
    return str(max(int(version) for version in versions))


@dataclass(frozen=True)
class ModelQuery:
    """What to resolve, and with whose credentials: the key of the shared cache.

    ``credentials_id`` is a digest of the credentials, so resources with different
    Secrets never share an answer (one Secret's access never leaks to another's), and
    a rotated Secret asks again.
    """

    tracking_uri: str
    model_name: str
    stage: str | None
    alias: str | None
    credentials_id: str = ""


def credentials_id(credentials: Mapping[str, str] | None) -> str:
    """A digest identifying ``credentials`` without revealing them (empty when none)."""
    if not credentials:
        return ""
    digest = hashlib.sha256()
    for key in sorted(credentials):
        digest.update(f"{key}\0{credentials[key]}\0".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Answer:
    version: str | None
    error: RegistryError | None
    at: float

    def unwrap(self) -> str:
        if self.error is not None:
            raise self.error
        assert self.version is not None
        return self.version


Resolve = Callable[..., str]


class VersionCache:
    """Shared, thread-safe answers to :class:`ModelQuery`, so N resources cost one query.

    ``resolve(query, credentials, max_age=...)`` returns the cached answer when it is
    younger than ``max_age`` seconds; otherwise one caller asks the registry while the
    concurrent callers for the same query wait for that answer (single flight). Errors
    are answers too: an unreachable registry is asked once per ``max_age``, not once
    per resource. ``queries`` counts the registry queries actually made.
    """

    def __init__(
        self,
        resolve: Resolve = resolve_version,
        clock: Callable[[], float] = time.monotonic,
        forget_after: float = 3600.0,
    ) -> None:
        self._resolve = resolve
        self._clock = clock
        self._forget_after = forget_after
        self._lock = threading.Lock()
        self._answers: dict[ModelQuery, _Answer] = {}
        self._flights: dict[ModelQuery, Future[_Answer]] = {}
        self.queries = 0

    def resolve(
        self, query: ModelQuery, credentials: Mapping[str, str] | None, *, max_age: float
    ) -> str:
        """The version for ``query``, at most ``max_age`` seconds old; raises RegistryError."""
        with self._lock:
            answer = self._answers.get(query)
            if answer is not None and self._clock() - answer.at < max_age:
                return answer.unwrap()
            flight = self._flights.get(query)
            leader = flight is None
            if flight is None:
                flight = self._flights[query] = Future()
                self.queries += 1
        if not leader:
            return flight.result().unwrap()
        try:
            version = self._resolve(
                query.tracking_uri,
                query.model_name,
                stage=query.stage,
                alias=query.alias,
                credentials=credentials,
            )
            answer = _Answer(version=version, error=None, at=self._clock())
        except RegistryError as error:
            answer = _Answer(version=None, error=error, at=self._clock())
        except BaseException as error:
            with self._lock:
                del self._flights[query]
            flight.set_exception(error)
            raise
        with self._lock:
            self._answers[query] = answer
            del self._flights[query]
            self._forget_stale(answer.at)
        flight.set_result(answer)
        return answer.unwrap()

    def _forget_stale(self, now: float) -> None:
        stale = [
            key for key, answer in self._answers.items() if now - answer.at > self._forget_after
        ]
        for key in stale:
            del self._answers[key]
