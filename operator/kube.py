"""A small dict-in, dict-out Kubernetes API for any kind, over HTTP with ``httpx``.

The operator handles children of several API groups, some of them custom resources
that may be absent from a cluster, so it addresses objects by ``apiVersion``, kind and
name, and reads and writes plain dicts (no typed models to keep in step with the
renderers). Updates are server-side apply with the operator's field manager, so a
field dropped from the desired state is dropped from the object too. The URL of a kind
comes from API discovery (its resource name, the plural), fetched once per group/version.

It logs in the way kopf does without a client library (kopf's own service-account and
kubeconfig logins), so both talk to the same cluster with the same credentials, and the
operator needs no Kubernetes client package: the official one costs about 70 MiB of
memory once imported.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import kopf

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is a subset of YAML
#: An API call never blocks a reconcile for long.
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class ObjectRef:
    """Where one namespaced object lives in the API."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of a full object (``apiVersion``, ``kind`` and ``metadata``)."""
        metadata = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], metadata["namespace"], metadata.get("name", ""))

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    """The credentials of the cluster the operator runs in, else of the current kubeconfig
    context (``$KUBECONFIG`` or ``~/.kube/config``): kopf's own order and parsers."""
    settings = settings or kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.LoginError("no service account token and no kubeconfig to log in with")
    return info


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


class ApiUnreachableError(ConnectionError):
    """No answer from the API server (refused, reset, timed out)."""


def api_message(error: ApiError) -> str:
    """The API server's one-line reason from an error response (its Status ``message``)."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or error.reason or f"HTTP {error.status}")


def is_not_found(error: ApiError) -> bool:
    """Whether the API said 404: no such object, or no such resource (CRD absent)."""
    return error.status == 404


def _http_client(info: kopf.ConnectionInfo) -> httpx.Client:
    return httpx.Client(
        base_url=info.server,
        verify=info.as_ssl_context(),
        headers={"Accept": JSON, **info.as_http_headers()},
        timeout=REQUEST_TIMEOUT,
        trust_env=info.trust_env,
    )


class UnknownKind(LookupError):  # noqa: N818 - named after what it reports
    """The cluster serves no resource of this kind (its CRD is not installed)."""


def _group_version_path(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class KubeApi:
    """Create, read, apply, patch, list and delete objects of any kind as dicts."""

    def __init__(
        self,
        login: Callable[[], kopf.ConnectionInfo] = login,
        *,
        field_manager: str,
        _shared: _Connection | None = None,
    ) -> None:
        self._connection = _shared or _Connection(login)
        self.field_manager = field_manager
        self._plurals: dict[str, dict[str, str]] = {}  # apiVersion → kind → plural
        self._plurals_lock = threading.Lock()

    def with_manager(self, field_manager: str) -> KubeApi:
        """The same connection, writing as another field manager."""
        return KubeApi(field_manager=field_manager, _shared=self._connection)

    def plural(self, api_version: str, kind: str) -> str:
        """The resource name of ``kind``, from discovery (asked again for a kind not seen).

        Raises :class:`UnknownKind` when the cluster does not serve it.
        """
        with self._plurals_lock:
            known = self._plurals.get(api_version, {}).get(kind)
        if known is not None:
            return known
        served = self.served_kinds(api_version) or {}
        if kind not in served:
            raise UnknownKind(f"the cluster serves no {kind} in {api_version}")
        return served[kind]

    def collection_path(self, api_version: str, kind: str, namespace: str) -> str:
        """The URL path of a kind in a namespace (for create and list)."""
        plural = self.plural(api_version, kind)
        return f"{_group_version_path(api_version)}/namespaces/{namespace}/{plural}"

    def path(self, ref: ObjectRef, subresource: str | None = None) -> str:
        """The URL path of the object (or of one of its subresources)."""
        path = f"{self.collection_path(ref.api_version, ref.kind, ref.namespace)}/{ref.name}"
        return f"{path}/{subresource}" if subresource else path

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = JSON,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        content = None if body is None else json.dumps(body).encode()
        response = self._connection.request(
            method, path, content=content, content_type=content_type, query=query or {}
        )
        if response.is_error:
            raise ApiError(response.status_code, response.reason_phrase, response.text)
        return response.json()

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object, or None when it (or its kind) does not exist."""
        try:
            result: dict[str, Any] = self._call("GET", self.path(ref))
        except UnknownKind:
            return None
        except ApiError as error:
            if is_not_found(error):
                return None
            raise
        return result

    def list(
        self, api_version: str, kind: str, namespace: str, *, selector: str | None = None
    ) -> list[dict[str, Any]] | None:
        """The objects of a kind in a namespace (matching a label ``selector``), or None
        when the cluster lacks the kind."""
        query = {"labelSelector": selector} if selector else {}
        try:
            path = self.collection_path(api_version, kind, namespace)
            result = self._call("GET", path, query=query)
        except UnknownKind:
            return None
        except ApiError as error:
            if is_not_found(error):
                return None
            raise
        items: list[dict[str, Any]] = result.get("items") or []
        return items

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object; it must not exist yet."""
        result: dict[str, Any] = self._call(
            "POST",
            self.collection_path(obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"]),
            body=dict(obj),
            query={"fieldManager": self.field_manager},
        )
        return result

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply the full desired object (creating it), taking over conflicts."""
        result: dict[str, Any] = self._call(
            "PATCH",
            self.path(ObjectRef.of(obj)),
            body=dict(obj),
            content_type=APPLY_PATCH,
            query={"fieldManager": self.field_manager, "force": "true"},
        )
        return result

    def patch(
        self, ref: ObjectRef, patch: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        """JSON-merge-patch the object (or its ``status`` subresource)."""
        result: dict[str, Any] = self._call(
            "PATCH", self.path(ref, subresource), body=dict(patch), content_type=MERGE_PATCH
        )
        return result

    def delete(self, ref: ObjectRef) -> bool:
        """Delete the object (its dependents in the background); False if it was gone."""
        try:
            self._call("DELETE", self.path(ref), body={"propagationPolicy": "Background"})
        except UnknownKind:
            return False
        except ApiError as error:
            if is_not_found(error):
                return False
            raise
        return True

    def served_kinds(self, api_version: str) -> dict[str, str] | None:
        """Kind → plural of what discovery lists for a group/version; None if it serves none.

        Subresources (``deployments/status``) are left out.
        """
        try:
            result = self._call("GET", _group_version_path(api_version))
        except ApiError as error:
            if is_not_found(error):
                return None
            raise
        served = {
            resource["kind"]: resource["name"]
            for resource in result.get("resources") or []
            if "/" not in resource["name"]
        }
        with self._plurals_lock:
            self._plurals[api_version] = served
        return served

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The decoded string data of a Secret, or None when it does not exist."""
        secret = self.get(ObjectRef("v1", "Secret", namespace, name))
        if secret is None:
            return None
        data: dict[str, str] = dict(secret.get("stringData") or {})
        for key, encoded in (secret.get("data") or {}).items():
            try:
                data[key] = base64.b64decode(encoded).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue  # binary values are not MLflow credentials
        return data


class _Connection:
    """One HTTP connection pool to the API server, logged in again after a 401 (a
    rotated service-account token)."""

    def __init__(self, login: Callable[[], kopf.ConnectionInfo]) -> None:
        self._login = login
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def _current(self, *, renew: bool = False) -> httpx.Client:
        with self._lock:
            if self._client is None or renew:
                # Not closed: other threads may be mid-request on it; its pool goes with it.
                self._client = _http_client(self._login())
            return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        content_type: str,
        query: Mapping[str, str],
    ) -> httpx.Response:
        headers = {"Content-Type": content_type}
        try:
            client = self._current()
            response = client.request(method, path, content=content, headers=headers, params=query)
            if response.status_code == 401:
                client = self._current(renew=True)
                response = client.request(
                    method, path, content=content, headers=headers, params=query
                )
        except httpx.TransportError as error:
            raise ApiUnreachableError(f"{method} {path}: {error}") from error
        return response
