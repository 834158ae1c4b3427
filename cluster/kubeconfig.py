"""Kubeconfig files for the cluster's identities."""

from __future__ import annotations

from pathlib import Path

import yaml
from local_cluster.pki import Identity


def write(path: Path, *, server: str, ca: Path, identity: Identity, user: str) -> Path:
    """A kubeconfig with one cluster, one user and one current context named ``local``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(identity.cert),
                    "client-key": str(identity.key),
                },
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
