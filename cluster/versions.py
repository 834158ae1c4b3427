"""The one place that names the versions of everything the local cluster builds or installs.

The kind job (`scripts/kind-e2e.sh`, its `read_pins`) imports KEDA and PROMETHEUS_OPERATOR
from here, so the local cluster and kind install the same KEDA and Prometheus Operator CRDs.
"""

from __future__ import annotations

KUBERNETES = "v1.37.2"
#: The published version of Kubernetes' staging modules (k8s.io/api, client-go, ...).
KUBERNETES_STAGING = "v0.37.2"
ETCD = "v3.6.5"
COREDNS = "v1.15.0"
KEDA = "v2.20.2"
PROMETHEUS_OPERATOR = "v0.93.1"

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubectl",
)


def all_pins() -> dict[str, str]:
    """Every pin by name, for scripts and the README."""
    return {
        "KUBERNETES": KUBERNETES,
        "ETCD": ETCD,
        "COREDNS": COREDNS,
        "KEDA": KEDA,
        "PROMETHEUS_OPERATOR": PROMETHEUS_OPERATOR,
    }
