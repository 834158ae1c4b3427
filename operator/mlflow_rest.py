"""The two MLflow Model Registry reads the operator makes, over MLflow's REST API.

MLflow's own client costs the operator process about 110 MiB of imports for two GET-like
requests, so this module makes them with ``requests`` as MLflow's ``RestStore`` does
(``mlflow/store/model_registry/rest_store.py``, ``mlflow/utils/rest_utils.py``): the same
endpoints and fallback, the same ``Authorization`` header, the TLS and redirect settings
from the same environment variables, and the same reading of an error answer. Unlike
MLflow, it makes one attempt with the timeout :func:`configure` sets.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter

REGISTRY_API = "/api/2.0/mlflow/registered-models"
DEFAULT_TIMEOUT_SECONDS = 10.0

# The HTTP status MLflow's client reports for the error code of a JSON error answer:
# ``mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS`` without its 5xx codes, since any code
# not listed here counts as 500.
_STATUS_OF_ERROR_CODE = {
    "BAD_REQUEST": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "CUSTOMER_UNAUTHORIZED": 401,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
}
# Statuses MLflow retries and, once out of retries, reports as a failed request whatever
# the answer says.
_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_timeout_seconds = DEFAULT_TIMEOUT_SECONDS
_local = threading.local()


class RestError(Exception):
    """No usable answer. ``status`` is the HTTP status MLflow's client reports for it
    (from the error code of a JSON answer, else the answer's status); None if none came."""

    def __init__(self, message: str, status: int | None = None, error_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


def configure(*, timeout_seconds: float) -> None:
    """Wait at most ``timeout_seconds`` to connect, and as long for each read of an answer."""
    global _timeout_seconds
    _timeout_seconds = timeout_seconds


def _session() -> requests.Session:
    """This thread's session: requests sessions are not documented as thread-safe."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # One request at a time per thread: one kept-alive connection per registry host.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=1, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # A cookie a registry sets in answer to one Secret's credentials must not go
        # out with another resource's request.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _local.session = session
    return session


def _flag(name: str, default: bool) -> bool:
    """A boolean environment variable read as MLflow reads it."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false", "1", "0"):
        raise RestError(f"{name} must be one of true, false, 1, 0 (case-insensitive)")
    return value.lower() in ("true", "1")


def _tls_options() -> dict[str, Any]:
    """``verify`` and ``cert`` from MLflow's environment variables, as its client sets them."""
    insecure = _flag("MLFLOW_TRACKING_INSECURE_TLS", default=False)
    server_cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
    client_cert = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
    if insecure and server_cert is not None:
        raise RestError(
            "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set: "
            "set only one of them"
        )
    options: dict[str, Any] = {"verify": server_cert if server_cert else not insecure}
    if client_cert is not None:
        options["cert"] = client_cert
    return options


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class RegistryClient:
    """Reads of one MLflow tracking server's Model Registry, as one user.

    ``username`` and ``password`` go out as HTTP basic auth; otherwise ``token`` as a
    bearer token, as MLflow sends ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``/``_TOKEN``.
    Every failure raises :class:`RestError`, its message without the credentials.
    """

    def __init__(
        self,
        host: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        self.host = host.removesuffix("/")
        self._headers = {"User-Agent": "sentiment-operator"}
        self._secrets = [s for s in (password, token) if s]
        if username and password:
            basic = base64.standard_b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
            self._secrets.append(basic)
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"

    def version_by_alias(self, name: str, alias: str) -> str:
        """The version ``alias`` of registered model ``name`` points to."""
        answer = self._call("GET", "/alias", {"name": name, "alias": alias})
        model_version = answer.get("model_version")
        version = model_version.get("version") if isinstance(model_version, dict) else None
        return self._version(version)

    def latest_versions(self, name: str, stages: list[str]) -> list[str]:
        """The latest version in each of ``stages`` that holds one (get-latest-versions)."""
        query = {"name": name, "stages": stages}
        try:
            answer = self._call("POST", "/get-latest-versions", query)
        except RestError as failure:
            # MLflow's client asks with GET where the server has no POST endpoint.
            if failure.error_code != "ENDPOINT_NOT_FOUND":
                raise
            answer = self._call("GET", "/get-latest-versions", query)
        versions = answer.get("model_versions", [])
        if not isinstance(versions, list):
            raise RestError(f"the registry answered without a list of versions: {answer}")
        return [
            self._version(version.get("version") if isinstance(version, dict) else None)
            for version in versions
        ]

    def _version(self, version: Any) -> str:
        if not isinstance(version, str | int) or not str(version).isdigit():
            raise RestError(f"the registry answered with no version number: {version!r}")
        return str(version)

    def _call(self, method: str, endpoint: str, query: dict[str, Any]) -> dict[str, Any]:
        """The JSON object a successful call answers with."""
        url = f"{self.host}{REGISTRY_API}{endpoint}"
        options = {**_tls_options(), "params" if method == "GET" else "json": query}
        redirects = _flag("MLFLOW_ALLOW_HTTP_REDIRECTS", default=True)
        try:
            response = _session().request(
                method,
                url,
                headers=self._headers,
                timeout=_timeout_seconds,
                allow_redirects=redirects,
                **options,
            )
        except requests.Timeout:
            message = f"API request to {url} got no answer within {_timeout_seconds:g} s"
            raise self._failed(message) from None
        except (OSError, ValueError) as error:  # requests' errors, an unreadable cert file
            raise self._failed(f"API request to {url} failed with exception {error}") from None
        return self._answer(response, url)

    def _answer(self, response: requests.Response, url: str) -> dict[str, Any]:
        status, text = response.status_code, response.text
        if status == 200:
            if text.strip() in ("", "200 OK"):  # answers MLflow reads as {}
                return {}
            answer = _json_object(text)
            if answer is None:
                raise self._failed(f"API request to {url} answered with no JSON object: {text}")
            return answer
        error = _json_object(text)
        if error is None or status in _RETRIED_STATUSES or status >= 500:
            body = f": {text.strip()}" if text.strip() else ""
            raise self._failed(
                f"API request to {url} failed with error code {status}{body}", status
            )
        code = str(error.get("error_code") or "INTERNAL_ERROR")
        detail = error.get("message", f"Response: {error}")
        # As in MLflow's client, the error code decides, not the status.
        code_status = int(code) if code.isdigit() else _STATUS_OF_ERROR_CODE.get(code, 500)
        raise self._failed(f"{code}: {detail}", code_status, code)

    def _failed(self, message: str, status: int | None = None, code: str = "") -> RestError:
        """The error, with any credential an answer might echo replaced before it is cut short."""
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return RestError(message[:1000], status, code)
