"""A small dict-in, dict-out Kubernetes API for any kind, on the ``kubernetes`` client.

The operator handles children of several API groups, some of them custom resources
that may be absent from a cluster, so it addresses objects by ``apiVersion``, kind and
name, and reads and writes plain dicts (no typed models to keep in step with the
renderers). Updates are server-side apply with the operator's field manager, so a
field dropped from the desired state is dropped from the object too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import kubernetes.config
from kubernetes.client.rest import ApiException

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # the client sends JSON, a subset of YAML
# (connect, read) seconds: an API call never blocks a reconcile for long.
REQUEST_TIMEOUT = (5.0, 30.0)

# Kinds whose plural is not simply the lower-cased kind plus "s".
_IRREGULAR_PLURALS = {"Endpoints": "endpoints"}


def plural_of(kind: str) -> str:
    """The resource name (plural) of ``kind``, by the rules Kubernetes' own kinds follow."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return f"{lower[:-1]}ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return f"{lower}es"
    return f"{lower}s"


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

    def collection_path(self) -> str:
        """The URL path of this kind in this namespace (for create and list)."""
        prefix = "/api" if "/" not in self.api_version else "/apis"
        return f"{prefix}/{self.api_version}/namespaces/{self.namespace}/{plural_of(self.kind)}"

    def path(self, subresource: str | None = None) -> str:
        """The URL path of the object (or of one of its subresources)."""
        path = f"{self.collection_path()}/{self.name}"
        return f"{path}/{subresource}" if subresource else path

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def load_api_client(kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """A client for the cluster the operator runs in, else for the kubeconfig's context.

    The same order kopf's own login follows, so both talk to the same cluster.
    """
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return kubernetes.client.ApiClient(configuration)
        except kubernetes.config.ConfigException:
            pass
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


def is_not_found(error: ApiException) -> bool:
    """Whether the API said 404: no such object, or no such resource (CRD absent)."""
    return bool(error.status == 404)


class KubeApi:
    """Create, read, apply, patch, list and delete objects of any kind as dicts."""

    def __init__(self, client: kubernetes.client.ApiClient, *, field_manager: str) -> None:
        self._client = client
        self.field_manager = field_manager

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = JSON,
        query: list[tuple[str, str]] | None = None,
    ) -> Any:
        return self._client.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": JSON, "Content-Type": content_type},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            result: dict[str, Any] = self._call("GET", ref.path())
        except ApiException as error:
            if is_not_found(error):
                return None
            raise
        return result

    def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]] | None:
        """All objects of a kind in a namespace, or None when the cluster lacks the kind."""
        probe = ObjectRef(api_version, kind, namespace, "")
        try:
            result = self._call("GET", probe.collection_path())
        except ApiException as error:
            if is_not_found(error):
                return None
            raise
        items: list[dict[str, Any]] = result.get("items") or []
        return items

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object; it must not exist yet."""
        result: dict[str, Any] = self._call(
            "POST",
            ObjectRef.of(obj).collection_path(),
            body=dict(obj),
            query=[("fieldManager", self.field_manager)],
        )
        return result

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply the full desired object (creating it), taking over conflicts."""
        result: dict[str, Any] = self._call(
            "PATCH",
            ObjectRef.of(obj).path(),
            body=dict(obj),
            content_type=APPLY_PATCH,
            query=[("fieldManager", self.field_manager), ("force", "true")],
        )
        return result

    def patch(
        self, ref: ObjectRef, patch: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        """JSON-merge-patch the object (or its ``status`` subresource)."""
        result: dict[str, Any] = self._call(
            "PATCH", ref.path(subresource), body=dict(patch), content_type=MERGE_PATCH
        )
        return result

    def delete(self, ref: ObjectRef) -> bool:
        """Delete the object (its dependents in the background); False if it was gone."""
        try:
            self._call("DELETE", ref.path(), body={"propagationPolicy": "Background"})
        except ApiException as error:
            if is_not_found(error):
                return False
            raise
        return True

    def served_resources(self, group_version: str) -> set[str] | None:
        """The resource names discovery lists for a group/version; None if it serves none."""
        prefix = "/api" if "/" not in group_version else "/apis"
        try:
            result = self._call("GET", f"{prefix}/{group_version}")
        except ApiException as error:
            if is_not_found(error):
                return None
            raise
        return {resource["name"] for resource in result.get("resources") or []}

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
