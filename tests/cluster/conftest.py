"""Each test gets a Kubernetes namespace of its own, removed afterwards."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.support.kube import KubeCluster

_counter = itertools.count(1)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube_cluster: KubeCluster) -> Iterator[str]:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")
    name = kube_cluster.create_namespace(f"{base}-{next(_counter)}")
    yield name
    kube_cluster.delete_namespace(name)
