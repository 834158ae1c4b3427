"""A pod's volumes on the node: folders the containers' mount namespaces bind in."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_cluster.api import Api
from local_cluster.environment import ConfigError, field_value

DEFAULT_TMPFS = "1Gi"
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}  # fmt: skip


def quantity_bytes(value: str) -> int:
    """``512Mi`` -> 536870912."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ConfigError(f"unsupported quantity {value!r}")
    return int(float(match[1]) * _FACTORS[match[2]])


@dataclass(frozen=True)
class Volume:
    """A volume's folder on the node."""

    name: str
    path: Path


def _write_files(folder: Path, files: Mapping[str, bytes], mode: int) -> None:
    for relative, content in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)


def _select(data: Mapping[str, bytes], items: list[dict[str, Any]] | None) -> dict[str, bytes]:
    if not items:
        return dict(data)
    return {
        item.get("path", item["key"]): data[item["key"]] for item in items if item["key"] in data
    }


class VolumeBuilder:
    """Makes the folders of one pod's volumes under ``root``."""

    def __init__(self, api: Api, pod: Mapping[str, Any], root: Path) -> None:
        self.api, self.pod, self.root = api, pod, root
        self.namespace = pod["metadata"]["namespace"]
        self.tmpfs: list[Path] = []

    def build(self) -> dict[str, Volume]:
        volumes = {}
        for spec in self.pod["spec"].get("volumes") or []:
            folder = self.root / spec["name"]
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
            self._fill(spec, folder)
            volumes[spec["name"]] = Volume(spec["name"], folder)
        return volumes

    def _fill(self, spec: Mapping[str, Any], folder: Path) -> None:
        if "emptyDir" in spec:
            size = (spec["emptyDir"] or {}).get("sizeLimit") or DEFAULT_TMPFS
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"mode=1777,size={quantity_bytes(size)}",
                 "tmpfs", str(folder)],
                check=True, capture_output=True,
            )  # fmt: skip
            self.tmpfs.append(folder)
        elif "secret" in spec:
            self._from_source(spec["secret"], spec["secret"]["secretName"], "secret", folder)
        elif "configMap" in spec:
            self._from_source(spec["configMap"], spec["configMap"]["name"], "configmap", folder)
        elif "projected" in spec:
            self._projected(spec["projected"], folder)
        elif "downwardAPI" in spec:
            self._downward(spec["downwardAPI"].get("items") or [], folder, 0o644)
        elif "hostPath" in spec:
            folder.rmdir()
            folder.symlink_to(spec["hostPath"]["path"])
        else:
            kinds = sorted(set(spec) - {"name"})
            raise ConfigError(f"volume {spec['name']}: unsupported source {kinds}")

    def _lookup(self, kind: str, name: str) -> dict[str, bytes] | None:
        if kind == "secret":
            return self.api.secret_data(self.namespace, name)
        return self.api.config_map_data(self.namespace, name)

    def _from_source(self, source: Mapping[str, Any], name: str, kind: str, folder: Path) -> None:
        data = self._lookup(kind, name)
        if data is None:
            if source.get("optional"):
                return
            raise ConfigError(f'{kind} "{name}" not found')
        mode = source.get("defaultMode", 0o644)
        _write_files(folder, _select(data, source.get("items")), mode)

    def _downward(self, items: list[dict[str, Any]], folder: Path, mode: int) -> None:
        files = {
            item["path"]: field_value(self.pod, item["fieldRef"]["fieldPath"]).encode()
            for item in items
            if "fieldRef" in item
        }
        _write_files(folder, files, mode)

    def _projected(self, projected: Mapping[str, Any], folder: Path) -> None:
        mode = projected.get("defaultMode", 0o644)
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                token = source["serviceAccountToken"]
                value = self.api.service_account_token(
                    self.namespace,
                    self.pod["spec"].get("serviceAccountName") or "default",
                    dict(self.pod),
                    token.get("audience"),
                    int(token.get("expirationSeconds", 3607)),
                )
                _write_files(folder, {token["path"]: value.encode()}, mode)
            elif "configMap" in source:
                ref = source["configMap"]
                self._from_source({**ref, "defaultMode": mode}, ref["name"], "configmap", folder)
            elif "secret" in source:
                ref = source["secret"]
                self._from_source({**ref, "defaultMode": mode}, ref["name"], "secret", folder)
            elif "downwardAPI" in source:
                self._downward(source["downwardAPI"].get("items") or [], folder, mode)

    def release(self) -> None:
        """Unmount the pod's in-memory volumes."""
        for folder in self.tmpfs:
            subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)
        self.tmpfs.clear()
