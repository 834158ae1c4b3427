"""The emulated cluster of the end-to-end loop: every CRD the operator can use, installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentiment_operator.render.kinds import ChildKind, optional_kinds

from tests.operator_integration.harness import Cluster, OperatorProcess
from tests.support.kube_emulator import KubeEmulator, kube_emulator


def stand_in_crd(kind: ChildKind) -> dict[str, Any]:
    """A CustomResourceDefinition serving ``kind`` (Prometheus Operator's, KEDA's), schemaless."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": kind.group,
            "scope": "Namespaced",
            "names": {"kind": kind.kind, "plural": kind.plural, "singular": kind.kind.lower()},
            "versions": [
                {
                    "name": kind.version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def e2e_cluster(tmp_path: Path, repo_root: Path) -> Iterator[Cluster]:
    """The emulator with the shipped SentimentModel CRD and the optional integrations' CRDs."""
    crds = [
        yaml.safe_load((repo_root / "crds" / "sentimentmodel.yaml").read_text()),
        *(stand_in_crd(kind) for kind in optional_kinds()),
    ]
    with kube_emulator(tmp_path / "kube", crds=crds) as emulator:
        yield Cluster(emulator)


@pytest.fixture
def e2e_operator(e2e_cluster: Cluster, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator, run as in production, against the emulator."""
    emulator: KubeEmulator = e2e_cluster.emulator
    workdir = tmp_path / "operator"
    workdir.mkdir()
    process = OperatorProcess(emulator, workdir)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    process = getattr(item, "funcargs", {}).get("e2e_operator")
    if report.failed and isinstance(process, OperatorProcess):
        tail = "\n".join(process.log().splitlines()[-80:])
        report.sections.append(("operator log (last 80 lines)", tail))
    return report
