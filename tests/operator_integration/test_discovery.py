"""Discovery of the optional CRDs: cached briefly, refreshed, and never "absent" by error."""

from __future__ import annotations

import dataclasses

import pytest
from sentiment_operator.discovery import Discovery
from sentiment_operator.kube import ApiUnreachableError, KubeApi, ObjectRef, UnknownKind
from sentiment_operator.render.kinds import (
    CHILD_KINDS,
    SCALED_OBJECT,
    SERVICE_MONITOR,
    TRIGGER_AUTHENTICATION,
)

from tests.operator_integration.conftest import (
    install_optional_crds,
    remove_optional_crds,
    restart_operators,
)
from tests.operator_integration.harness import Cluster

pytestmark = pytest.mark.integration
KEDA = {SCALED_OBJECT.resource, TRIGGER_AUTHENTICATION.resource}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_crd_installed_later_is_seen_once_the_cached_answer_expires(cluster: Cluster) -> None:
    clock = Clock()
    remove_optional_crds(cluster.kube)
    try:
        discovery = Discovery(cluster.api, ttl_seconds=30, clock=clock)
        assert not discovery.served_child_kinds() & KEDA
        assert SERVICE_MONITOR.resource not in discovery.served_child_kinds()

        install_optional_crds(cluster.kube)
        clock.now = 29
        assert not discovery.served_child_kinds() & KEDA
        clock.now = 31
        assert discovery.served_child_kinds() >= KEDA | {SERVICE_MONITOR.resource}
    finally:
        install_optional_crds(cluster.kube)
        restart_operators()


def test_an_unreachable_api_keeps_the_last_answer_and_is_never_taken_for_absent(
    cluster: Cluster,
) -> None:
    clock = Clock()
    api = KubeApi(cluster.kube.login, field_manager="tests")
    discovery = Discovery(api, ttl_seconds=30, clock=clock)
    assert discovery.served_child_kinds() >= KEDA

    gone = dataclasses.replace(cluster.kube.login(), server="https://127.0.0.1:9")
    discovery.api = KubeApi(lambda: gone, field_manager="tests")  # the API server is gone
    clock.now = 100  # and the cached answer expired
    assert discovery.served_child_kinds() >= KEDA
    with pytest.raises(ApiUnreachableError):
        Discovery(discovery.api, ttl_seconds=30, clock=clock).served_child_kinds()


def test_every_child_kind_is_addressed_by_the_plural_discovery_gives(cluster: Cluster) -> None:
    api = cluster.api.with_manager("tests")  # a fresh connection: nothing cached yet
    for kind in CHILD_KINDS:
        assert api.plural(kind.api_version, kind.kind) == kind.plural
    assert api.plural("networking.k8s.io/v1", "NetworkPolicy") == "networkpolicies"
    with pytest.raises(UnknownKind, match="no Gateway"):
        api.plural("keda.sh/v1alpha1", "Gateway")
    assert api.get(ObjectRef("keda.sh/v1alpha1", "Gateway", "default", "x")) is None
