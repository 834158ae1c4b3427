"""Cut off request bodies that do not arrive in time.

gunicorn's workers read a body with blocking ``recv`` calls and no deadline: a
client that declares more bytes than it sends, or stops a chunked upload, would hold
a worker thread (``gthread``) or greenlet (``gevent``) for ever, and one that trickles
a byte every few seconds nearly as long. While a body is read, its socket is
registered here; one watchdog thread (a greenlet under ``gevent``) per process shuts
the socket's reading side once the deadline passes, so the blocked read returns (or
raises) and the request is answered 408 (and closed).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

TICK_SECONDS = 0.25
#: Bodies cut off per tick and process, at most; the rest wait for the next tick. Every cut
#: wakes a request that answers 408 through the app (about a millisecond): hundreds of slow
#: connections opened together would otherwise expire together and stall the worker's
#: other requests for a few hundred milliseconds.
MAX_CUTS_PER_TICK = 16


class BodyDeadlines:
    """Deadlines for reading request bodies, enforced by one thread per process."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._active: set[int] = set()
        self._expired: set[int] = set()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._pid = 0

    @contextlib.contextmanager
    def guard(self, environ: Mapping[str, Any]) -> Iterator[Callable[[], bool]]:
        """Inside: the request's socket stops reading at the deadline. Yields ``expired()``."""
        sock = environ.get("gunicorn.socket")
        sock = getattr(sock, "raw", sock)  # the gevent worker's GatheredSends wraps it
        if not isinstance(sock, socket.socket):  # another WSGI server: nothing to guard
            yield lambda: False
            return
        self._ensure_thread()
        key = next(self._ids)
        with self._lock:
            self._active.add(key)
            heapq.heappush(self._heap, (time.monotonic() + self.seconds, key, sock))
        try:
            yield lambda: key in self._expired
        finally:
            with self._lock:
                self._active.discard(key)
                self._expired.discard(key)

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():  # another thread of this process was first
                return
            # Threads do not survive fork: one per worker, started on its first request.
            self._pid = os.getpid()
            self._heap.clear()
            self._active.clear()
            self._expired.clear()
        # Started with the lock released, as nothing may wait while holding it: in a gevent
        # worker it is a real OS lock (made in the master, before the worker monkey-patches),
        # and ``start()`` waits for the new greenlet, switching to the others. One of them
        # entering ``guard`` then blocked the worker's only thread on the lock for good: a
        # fresh worker's first burst went unanswered until the master's timeout killed it.
        threading.Thread(target=self._run, name="body-deadlines", daemon=True).start()

    def _run(self) -> None:
        # Polling at a fixed tick keeps the cost per request to a heap push, whatever the rate.
        while True:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            cuts = 0
            with self._lock:
                while self._heap and self._heap[0][0] <= now and cuts < MAX_CUTS_PER_TICK:
                    _, key, sock = heapq.heappop(self._heap)
                    if key in self._active:
                        self._expired.add(key)
                        cuts += 1
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RD)
