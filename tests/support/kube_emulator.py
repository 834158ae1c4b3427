"""A Kubernetes API server on loopback: kmock's emulator, stamped like a real apiserver.

kmock's ``KubernetesEmulator`` serves real Kubernetes URLs (discovery, list, watch,
create, merge/JSON patch, delete with finalizers) from memory but stores objects
exactly as given. :class:`ApiServerEmulator` adds what kopf and the operator rely on:

* ``uid``, ``resourceVersion``, ``generation`` and ``creationTimestamp`` on create,
  ``metadata.name`` from ``generateName`` (kopf posts Events that way);
* a new ``resourceVersion`` on every write, ``generation`` bumped on spec changes only;
* the ``status`` subresource honoured: the main endpoint ignores ``status``, the
  ``/status`` endpoint ignores everything else;
* optimistic concurrency: a patch naming a stale ``resourceVersion``, or a JSON-patch
  whose ``test`` fails, is refused (409 / 422) instead of kmock's 500;
* CustomResourceDefinitions that register their resources in discovery when created,
  so tests install CRDs through the API and can leave one out to test "CRD absent";
* watches that subscribe before listing, so no event falls between list and stream;
* constant-time routing: served requests are forgotten (see ``_forget``).

:func:`kube_emulator` runs it in a background thread and writes a kubeconfig that
both kopf and the ``kubernetes`` client load unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import itertools
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import kubernetes.client
import yaml
from kmock._internal import dicts as kmock_dicts  # the emulator's own patch semantics

from tests.support.processes import free_port

VERBS = frozenset(
    {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)
MUTATIONS = frozenset({kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE})
CRD_RESOURCE = "apiextensions.k8s.io/v1/customresourcedefinitions"


def _info(
    kind: str, *, namespaced: bool = True, subresources: Iterable[str] = ()
) -> kmock.ResourceInfo:
    return kmock.ResourceInfo(
        kind=kind,
        singular=kind.lower(),
        namespaced=namespaced,
        verbs=VERBS,
        subresources=set(subresources),
    )


#: The built-in resources kopf needs to start (CRDs, namespaces) and the operator touches.
BUILTIN_RESOURCES: Mapping[str, kmock.ResourceInfo] = {
    CRD_RESOURCE: _info("CustomResourceDefinition", namespaced=False, subresources=["status"]),
    "v1/namespaces": _info("Namespace", namespaced=False, subresources=["status"]),
    "v1/events": _info("Event"),
    "v1/secrets": _info("Secret"),
    "v1/configmaps": _info("ConfigMap"),
    "v1/services": _info("Service", subresources=["status"]),
    "apps/v1/deployments": _info("Deployment", subresources=["status", "scale"]),
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's own alphabet for generateName
    return "".join(secrets.choice(alphabet) for _ in range(5))


@attrs.define(kw_only=True)
class ApiServerEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the apiserver behaviour listed in the module docstring."""

    _writes: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)
    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await self._serve(request)
        finally:
            self._forget(request)

    async def _serve(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.action not in MUTATIONS:
            return await super()._handle(request)
        # Serialised so that read-stamp-write of one request is not interleaved with another.
        async with self._writes:
            if request.action == kmock.action.CREATE:
                self._stamp_create(request)
            elif request.action == kmock.action.UPDATE:
                self._stamp_update(request)
            else:
                self._stamp_delete(request)
            response = await super()._handle(request)
        if response.status < 300 and request.resource == kmock.resource(CRD_RESOURCE):
            self._register_crd(request)
        return response

    def _forget(self, request: kmock.Request) -> None:
        """Drop a served request from kmock's log of them.

        kmock keeps every request for assertions (in the root and in the reaction that
        served it), and routes each new one by scanning the root's whole log: serving
        slows down linearly with the requests served so far (70 ms a request after a
        few thousand) and memory grows. Tests here assert through the API instead.
        """
        logs = [self._requests] + [payload._requests for payload in self._payloads]
        for requests in logs:
            for index in range(len(requests) - 1, -1, -1):
                if requests[index] is request:
                    del requests[index]
                    break

    # -- stamping -------------------------------------------------------------------------

    def _has_status_subresource(self, resource: kmock.resource) -> bool:
        return resource in self.resources and "status" in self.resources[resource].subresources

    def _stamp_create(self, request: kmock.Request) -> None:
        assert request.resource is not None
        body = request.data
        if not isinstance(body, dict):
            raise kmock.KubernetesError(400, "BadRequest", "the body must be an object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{_random_suffix()}"
        if not meta.get("name"):
            raise kmock.KubernetesError(422, "Invalid", "metadata.name: Required value")
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(next(self._versions)),
            generation=1,
            creationTimestamp=_now(),
        )
        if self._has_status_subresource(request.resource):
            body.pop("status", None)

    def _current(self, request: kmock.Request) -> dict[str, Any] | None:
        if request.resource is None or request.name is None:
            return None
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def _stamp_update(self, request: kmock.Request) -> None:
        assert request.resource is not None
        current = self._current(request)
        if current is None:
            return  # kmock answers 404
        patch = self._restrict_to_endpoint(request)
        current_meta = current.get("metadata", {})
        if isinstance(patch, dict):
            claimed = (patch.get("metadata") or {}).get("resourceVersion")
            if claimed is not None and claimed != current_meta.get("resourceVersion"):
                raise kmock.KubernetesError(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes "
                    "to the latest version and try again",
                )
        try:
            patched = kmock_dicts.patch_dict(current, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise kmock.KubernetesError(
                422, "Invalid", f"the patch cannot be applied: {error}"
            ) from error
        generation = current_meta.get("generation", 1)
        if patched.get("spec") != current.get("spec"):
            generation += 1
        stamp = {"resourceVersion": str(next(self._versions)), "generation": generation}
        if isinstance(patch, dict):
            patch.setdefault("metadata", {}).update(stamp)
        else:
            patch.extend(
                {"op": "add", "path": f"/metadata/{key}", "value": value}
                for key, value in stamp.items()
            )

    def _restrict_to_endpoint(self, request: kmock.Request) -> Any:
        """Drop what the endpoint ignores: non-status via ``/status``, status via the object."""
        assert request.resource is not None
        patch = request.data
        if not self._has_status_subresource(request.resource):
            return patch
        to_status = request.subresource == "status"
        if isinstance(patch, dict):
            for key in list(patch):
                if (key == "status") != to_status and not (to_status and key == "metadata"):
                    del patch[key]
            if to_status and "metadata" in patch:
                patch["metadata"] = {
                    k: v for k, v in patch["metadata"].items() if k == "resourceVersion"
                }
        elif isinstance(patch, list):
            patch[:] = [
                op
                for op in patch
                if op.get("op") == "test"
                or str(op.get("path", "")).startswith("/status") == to_status
            ]
        return patch

    def _stamp_delete(self, request: kmock.Request) -> None:
        if request.resource is None or request.name is None:
            return
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            # The DELETED (or deletionTimestamp MODIFIED) event carries a new version.
            self.objects[key].patch({"metadata": {"resourceVersion": str(next(self._versions))}})

    # -- CRDs -----------------------------------------------------------------------------

    def _register_crd(self, request: kmock.Request) -> None:
        crd = request.data if request.action == kmock.action.CREATE else None
        if request.action == kmock.action.DELETE and request.name:
            key = (kmock.resource(CRD_RESOURCE), None, request.name)
            crd = self.objects[key].last.raw if key in self.objects else None
        if not isinstance(crd, dict):
            return
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        for version in spec.get("versions", []):
            resource = kmock.resource(spec["group"], version["name"], names["plural"])
            if request.action == kmock.action.DELETE:
                self.resources.pop(resource, None)
            elif version.get("served", True):
                self.resources[resource] = kmock.ResourceInfo(
                    kind=names["kind"],
                    singular=names.get("singular") or names["kind"].lower(),
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    verbs=VERBS,
                    shortnames=set(names.get("shortNames", [])),
                    categories=set(names.get("categories", [])),
                    subresources=set((version.get("subresources") or {}).keys()),
                )

    # -- watching -------------------------------------------------------------------------

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        """Stream the existing objects, then every change since the listing, none missed."""
        assert request.resource is not None
        yield b""
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            existing = [
                obj.raw
                for (resource, namespace, _), obj in self.objects.items()
                if resource == request.resource
                and not obj.deleted
                and request.namespace in (None, namespace)
                and request.name in (None, obj.raw.get("metadata", {}).get("name"))
            ]
        try:
            for raw in existing:
                yield {"type": "ADDED", "object": raw}
            async for event in bus.stream(since=mark):
                meta = event.get("object", {}).get("metadata", {})
                if request.namespace in (None, meta.get("namespace")) and request.name in (
                    None,
                    meta.get("name"),
                ):
                    yield event
        finally:
            await bus.unmark(mark)


@dataclass
class KubeEmulator:
    """A running emulator: its URL, a kubeconfig for it, and an API client for tests."""

    url: str
    kubeconfig: Path
    handler: ApiServerEmulator
    loop: asyncio.AbstractEventLoop

    def api_client(self) -> kubernetes.client.ApiClient:
        """A fresh ``kubernetes`` client configured from the kubeconfig."""
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        return kubernetes.client.ApiClient(configuration)

    def install_crd(self, crd: Mapping[str, Any]) -> None:
        """Create a CustomResourceDefinition through the API, as ``kubectl apply`` would."""
        with self.api_client() as client:
            kubernetes.client.ApiextensionsV1Api(client).create_custom_resource_definition(
                dict(crd)
            )


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig with one context pointing at ``server`` (any token: none is checked)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "tester", "namespace": "default"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def kube_emulator(
    workdir: Path,
    *,
    crds: Iterable[Mapping[str, Any]] = (),
    port: int | None = None,
) -> Iterator[KubeEmulator]:
    """Serve the emulator on loopback from a background thread; install ``crds`` first."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    handler_box: list[ApiServerEmulator] = []
    failure: list[BaseException] = []

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        handler = ApiServerEmulator()
        for resource, info in BUILTIN_RESOURCES.items():
            handler.resources[resource] = info
        async with handler, kmock.Server(handler, port=port):
            handler_box.append(handler)
            started.set()
            await stop.wait()

    def main() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as error:  # reported to the starting thread
            failure.append(error)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="kube-emulator", daemon=True)
    thread.start()
    started.wait(timeout=30)
    if failure or not handler_box:
        raise RuntimeError(f"the Kubernetes emulator did not start: {failure}")
    url = f"http://127.0.0.1:{port}"
    emulator = KubeEmulator(
        url=url,
        kubeconfig=write_kubeconfig(workdir / "kubeconfig.yaml", url),
        handler=handler_box[0],
        loop=loop,
    )
    try:
        for crd in crds:
            emulator.install_crd(crd)
        yield emulator
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
