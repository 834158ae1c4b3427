"""Discovery of the optional CRDs: cached briefly, refreshed, and never "absent" by error."""

from __future__ import annotations

from pathlib import Path

import pytest
import urllib3.exceptions
from sentiment_operator.discovery import Discovery
from sentiment_operator.kube import KubeApi
from sentiment_operator.render.kinds import SCALED_OBJECT, SERVICE_MONITOR, TRIGGER_AUTHENTICATION

from tests.operator_integration.harness import keda_crds
from tests.support.kube_emulator import kube_emulator

KEDA = {SCALED_OBJECT.resource, TRIGGER_AUTHENTICATION.resource}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_crd_installed_later_is_seen_once_the_cached_answer_expires(tmp_path: Path) -> None:
    clock = Clock()
    with kube_emulator(tmp_path) as emulator:
        api = KubeApi(emulator.api_client(), field_manager="tests")
        discovery = Discovery(api, ttl_seconds=30, clock=clock)
        assert not discovery.served_child_kinds() & KEDA

        for crd in keda_crds():
            emulator.install_crd(crd)
        clock.now = 29
        assert not discovery.served_child_kinds() & KEDA
        clock.now = 31
        assert discovery.served_child_kinds() >= KEDA
        assert SERVICE_MONITOR.resource not in discovery.served_child_kinds()


def test_an_unreachable_api_keeps_the_last_answer_and_is_never_taken_for_absent(
    tmp_path: Path,
) -> None:
    clock = Clock()
    with kube_emulator(tmp_path, crds=keda_crds()) as emulator:
        api = KubeApi(emulator.api_client(), field_manager="tests")
        discovery = Discovery(api, ttl_seconds=30, clock=clock)
        assert discovery.served_child_kinds() >= KEDA

    clock.now = 100  # expired, and the API server is gone
    assert discovery.served_child_kinds() >= KEDA
    with pytest.raises(urllib3.exceptions.HTTPError):
        Discovery(api, ttl_seconds=30, clock=clock).served_child_kinds()
