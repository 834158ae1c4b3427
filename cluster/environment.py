"""A container's environment, resolved from its spec as the kubelet does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from local_cluster import network

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
_FIELD_INDEX = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")

Lookup = Callable[[str, str], "dict[str, bytes] | None"]


class ConfigError(ValueError):
    """The container cannot start: a referenced Secret, ConfigMap or key is missing."""


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion; ``$$`` escapes; unknown references stay."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return _REFERENCE.sub(replace, value)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward API ``fieldRef``."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    indexed = _FIELD_INDEX.match(path)
    if indexed:
        return str((meta.get(indexed[1]) or {}).get(indexed[2], ""))
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs") or []),
        "status.hostIP": str(network.GATEWAY),
        "status.hostIPs": str(network.GATEWAY),
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef {path!r}")
    return str(simple[path])


def _key(source: Lookup, kind: str, namespace: str, ref: Mapping[str, Any]) -> str | None:
    data = source(namespace, ref["name"])
    optional = bool(ref.get("optional"))
    if data is None:
        if optional:
            return None
        raise ConfigError(f'{kind} "{ref["name"]}" not found')
    if ref["key"] not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    return data[ref["key"]].decode()


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    base: Mapping[str, str],
    secrets: Lookup,
    config_maps: Lookup,
) -> dict[str, str]:
    """``base`` (the image's), the service variables, ``envFrom``, then ``env`` in order."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    env.update(
        KUBERNETES_SERVICE_HOST=str(network.API_SERVICE_IP),
        KUBERNETES_SERVICE_PORT="443",
        KUBERNETES_PORT=f"tcp://{network.API_SERVICE_IP}:443",
        HOSTNAME=pod["metadata"]["name"][:63],
    )
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        ref = source.get("secretRef") or source.get("configMapRef")
        lookup, kind = (secrets, "secret") if "secretRef" in source else (config_maps, "configmap")
        data = lookup(namespace, ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind} "{ref["name"]}" not found')
        env.update({prefix + k: v.decode() for k, v in data.items()})
    for item in container.get("env") or []:
        if "valueFrom" not in item:
            env[item["name"]] = expand(item.get("value", ""), env)
            continue
        source = item["valueFrom"]
        value: str | None
        if "secretKeyRef" in source:
            value = _key(secrets, "secret", namespace, source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _key(config_maps, "configmap", namespace, source["configMapKeyRef"])
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        else:
            raise ConfigError(f"unsupported valueFrom in env {item['name']}")
        if value is not None:
            env[item["name"]] = value
    return env
