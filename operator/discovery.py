"""Which optional child kinds the cluster serves, from API discovery, cached briefly.

A CRD installed after the operator started is picked up once the cached answer for its
group/version expires. Only "not found" means absent: on any other API error the last
known answer stays in use, and with none yet the error propagates (the reconcile is
retried), so a flaky API server never makes the operator delete children.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sentiment_operator.kube import ApiError, ApiUnreachableError, KubeApi
from sentiment_operator.render.kinds import CHILD_KINDS, Resource

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30.0


class Discovery:
    """Answers "does the cluster serve these resources?" with a per-group/version cache."""

    def __init__(
        self,
        api: KubeApi,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}  # gv → (fetched, plurals)

    def served(self, resources: Iterable[Resource]) -> frozenset[Resource]:
        """Those of ``resources`` (group, version, plural) that the cluster serves now."""
        return frozenset(
            (group, version, plural)
            for group, version, plural in resources
            if plural in self._plurals(f"{group}/{version}" if group else version)
        )

    def served_child_kinds(self) -> frozenset[Resource]:
        """The resources of every child kind the cluster serves; built-in kinds always are."""
        builtin = {kind.resource for kind in CHILD_KINDS if not kind.required_crd}
        optional = [kind.resource for kind in CHILD_KINDS if kind.required_crd]
        return frozenset(builtin) | self.served(optional)

    def _plurals(self, group_version: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_version)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        try:
            found = (self.api.served_kinds(group_version) or {}).values()
        except (ApiError, ApiUnreachableError) as error:
            if cached is None:
                raise
            logger.warning(
                "Discovery of %s failed (%s); using the last answer", group_version, error
            )
            return cached[1]
        plurals = frozenset(found)
        with self._lock:
            self._cache[group_version] = (now, plurals)
        return plurals
