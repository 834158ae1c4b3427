"""The emulated API server behaves like a real one where the operator relies on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from sentiment_operator.kube import KubeApi, ObjectRef

from tests.support.kube_emulator import kube_emulator

WIDGETS_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [
            {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}
        ],
    },
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    with kube_emulator(tmp_path_factory.mktemp("emulator"), crds=[WIDGETS_CRD]) as emulator:
        yield KubeApi(emulator.api_client(), field_manager="tests")


def widget(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "ns"},
        **fields,
    }


def test_created_objects_get_identity_and_versions(api: KubeApi) -> None:
    created = api.create(widget("a", spec={"size": 1}, status={"ignored": True}))
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert "status" not in created  # the status subresource owns it


def test_generation_follows_the_spec_and_versions_every_write(api: KubeApi) -> None:
    ref = ObjectRef("example.com/v1", "Widget", "ns", "b")
    created = api.create(widget("b", spec={"size": 1}))
    labelled = api.patch(ref, {"metadata": {"labels": {"x": "y"}}})
    resized = api.patch(ref, {"spec": {"size": 2}})
    versions = [int(o["metadata"]["resourceVersion"]) for o in (created, labelled, resized)]
    assert versions == sorted(set(versions))
    assert [o["metadata"]["generation"] for o in (created, labelled, resized)] == [1, 1, 2]


def test_the_status_subresource_is_honoured(api: KubeApi) -> None:
    ref = ObjectRef("example.com/v1", "Widget", "ns", "c")
    api.create(widget("c", spec={"size": 1}))
    via_status = api.patch(
        ref, {"status": {"ready": True}, "spec": {"size": 9}}, subresource="status"
    )
    assert via_status["status"] == {"ready": True}
    assert via_status["spec"] == {"size": 1}
    via_object = api.patch(ref, {"status": {"ready": False}, "spec": {"size": 2}})
    assert via_object["status"] == {"ready": True}
    assert via_object["spec"] == {"size": 2}


def test_a_patch_naming_a_stale_version_is_refused(api: KubeApi) -> None:
    ref = ObjectRef("example.com/v1", "Widget", "ns", "d")
    created = api.create(widget("d", spec={"size": 1}))
    api.patch(ref, {"spec": {"size": 2}})
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    with pytest.raises(ApiException) as conflict:
        api.patch(ref, stale)
    assert conflict.value.status == 409


def test_unknown_kinds_are_not_found_until_their_crd_exists(api: KubeApi) -> None:
    assert api.list("example.com/v1", "Widget", "ns") is not None
    assert api.list("example.com/v1", "Gadget", "ns") is None


def test_server_side_apply_of_a_missing_object_creates_it(api: KubeApi) -> None:
    applied = api.apply(widget("e", spec={"size": 1}))
    assert applied["metadata"]["generation"] == 1
    again = api.apply(widget("e", spec={"size": 3}))
    assert again["spec"] == {"size": 3}
    assert again["metadata"]["uid"] == applied["metadata"]["uid"]


def test_generate_name_gives_unique_names(api: KubeApi) -> None:
    event = {"apiVersion": "v1", "kind": "Event", "involvedObject": {"name": "x"}}
    names = {
        api.create({**event, "metadata": {"generateName": "x.", "namespace": "ns"}})["metadata"][
            "name"
        ]
        for _ in range(3)
    }
    assert len(names) == 3
    assert all(name.startswith("x.") for name in names)


def test_the_crd_is_installed_through_the_api(tmp_path: Path) -> None:
    with kube_emulator(tmp_path) as emulator:
        api = KubeApi(emulator.api_client(), field_manager="tests")
        assert api.list("example.com/v1", "Widget", "ns") is None
        emulator.install_crd(WIDGETS_CRD)
        assert api.list("example.com/v1", "Widget", "ns") == []
