"""What the kopf handlers share: one reconcile at a time per resource, in worker threads.

Reconciles of one resource never overlap: a per-resource lock serialises them, and
they run in a thread pool because the API and registry clients block.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from dataclasses import dataclass, field

from sentiment_operator.reconcile import Outcome, Reconciler

Key = tuple[str, str]  # (namespace, name)


@dataclass
class Runtime:
    """Everything the handlers share, passed to them in kopf's ``memo``."""

    reconciler: Reconciler
    executor: Executor
    retry_seconds: float = 10.0
    poll_backoff_max_seconds: float = 300.0
    _locks: dict[Key, asyncio.Lock] = field(default_factory=dict)
    _queued: set[Key] = field(default_factory=set)

    def polls_skipped(self, failures: int, interval: float) -> float:
        """Seconds of poll ticks to leave out after ``failures`` faulty ones in a row:
        0, 1, 3, 7... intervals, capped."""
        ticks = 2 ** max(failures - 1, 0) - 1 if failures else 0
        return float(min(ticks * interval, self.poll_backoff_max_seconds))

    async def reconcile(self, key: Key, *, max_age: float | None = None) -> Outcome:
        """Reconcile one resource, after any reconcile of it that is running now."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            self._queued.discard(key)
            return await self._run(key, max_age)

    async def nudge(self, key: Key) -> Outcome | None:
        """Reconcile soon; None if a pass that will see the same state is already queued."""
        if key in self._queued:
            return None
        self._queued.add(key)
        try:
            return await self.reconcile(key)
        finally:
            self._queued.discard(key)

    def forget(self, key: Key) -> None:
        """Drop the state of a resource that is gone."""
        self._locks.pop(key, None)
        self._queued.discard(key)

    async def _run(self, key: Key, max_age: float | None) -> Outcome:
        namespace, name = key
        call = functools.partial(self.reconciler.reconcile, namespace, name, max_age=max_age)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)
