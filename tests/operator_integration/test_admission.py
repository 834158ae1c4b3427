"""The real API server admits the CRD, every Kubernetes object in ``examples/``, and the
children the operator renders from the full example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.operator_integration.harness import Cluster

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
#: Cluster-tool configs in examples/ that are not Kubernetes objects.
NOT_KUBERNETES = ("kind.x-k8s.io/", "eksctl.io/")


def kubernetes_examples() -> list[Path]:
    found = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if all(not d["apiVersion"].startswith(NOT_KUBERNETES) for d in documents):
            found.append(path)
    return found


def test_the_examples_are_the_ones_expected() -> None:
    names = {path.name for path in kubernetes_examples()}
    assert {
        "sentimentmodel-minimal.yaml",
        "sentimentmodel-full.yaml",
        "mlflow-server.yaml",
    } <= names
    assert "kind-cluster.yaml" not in names


@pytest.mark.parametrize("example", kubernetes_examples(), ids=lambda p: p.name)
def test_every_example_is_admitted_by_the_api_server(cluster: Cluster, example: Path) -> None:
    documents = [d for d in yaml.safe_load_all(example.read_text()) if d]
    # A server-side dry run creates nothing, so the namespaces the file fills must exist.
    for name in {d["metadata"].get("namespace") for d in documents} - {None}:
        cluster.kube.kubectl("create", "namespace", name, check=False)
    done = cluster.kube.kubectl("apply", "--dry-run=server", "-f", str(example), check=False)
    assert done.returncode == 0, done.stderr


def test_the_children_rendered_from_the_full_example_are_admitted(cluster: Cluster) -> None:
    rendered = subprocess.run(
        [sys.executable, "-m", "sentiment_operator", "render", "--version", "3",
         "-f", str(ROOT / "examples" / "sentimentmodel-full.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d}
    expected = {"Deployment", "Service", "ServiceMonitor", "ScaledObject", "TriggerAuthentication"}
    assert expected <= kinds
    done = cluster.kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=rendered.stdout, check=False
    )
    assert done.returncode == 0, done.stderr
