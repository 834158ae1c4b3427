"""The node agent's view of the Kubernetes API: a thin layer over the ``kubernetes`` client."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

STRATEGIC = "application/strategic-merge-patch+json"


def _or_none(read: Callable[[str, str], Any], name: str, namespace: str) -> Any:
    """``read(name, namespace)``, or None when the object does not exist."""
    try:
        return read(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


class Api:
    """Core v1 and coordination calls the node agent makes, returning plain dicts."""

    def __init__(self, kubeconfig: str) -> None:
        self.client = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.client)
        self.coordination = client.CoordinationV1Api(self.client)

    def plain(self, obj: Any) -> Any:
        return self.client.sanitize_for_serialization(obj)

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        secret = _or_none(self.core.read_namespaced_secret, name, namespace)
        if secret is None:
            return None
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

    def config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        found = _or_none(self.core.read_namespaced_config_map, name, namespace)
        if found is None:
            return None
        data = {k: v.encode() for k, v in (found.data or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (found.binary_data or {}).items()})
        return data

    def service_account_token(
        self, namespace: str, account: str, pod: dict[str, Any], audience: str | None, seconds: int
    ) -> str:
        spec: dict[str, Any] = {
            "expirationSeconds": seconds,
            "boundObjectRef": {
                "apiVersion": "v1", "kind": "Pod",
                "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"],
            },
        }  # fmt: skip
        if audience:
            spec["audiences"] = [audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        answer = self.core.create_namespaced_service_account_token(account, namespace, body)
        return str(answer.status.token)

    def patch_pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(
            name, namespace, {"status": status}, _content_type=STRATEGIC
        )

    def remove_pod(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's final delete, once every container has stopped."""
        body = client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": uid})
        try:
            self.core.delete_namespaced_pod(name, namespace, body=body)
        except ApiException as error:
            if error.status not in (404, 409):
                raise
