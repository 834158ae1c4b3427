"""gunicorn's gevent worker, fairer between keep-alive connections and sending each
answer in one write.

A greenlet that has answered a request goes on to read its connection's next one;
when that request is already there, nothing makes it yield, and the scoring is
CPU-bound, so a few busy keep-alive connections can hold a worker while the others
wait (measured: p99 of 0.35-1.9 s at 8 connections, against 30 ms with the yield).
After each answer this worker yields on a timer rather than with ``sleep(0)``: a
greenlet back from ``sleep(0)`` is queued as a callback, and gevent runs queued
callbacks for many requests' worth of time before it polls the sockets again, so
under load a connection whose next request was not there yet, and a new connection
waiting to be accepted, waited for seconds (wrk, 64 connections: p99 0.9-1.5 s, max
2 s; with the timer 0.11-0.6 s, max 0.5-1.1 s). A due timer is run after the poll, so
every loop iteration serves each ready connection once and sees new ones.

gunicorn writes a response's head and its body with two ``sendall`` calls: two
segments, two wake-ups of the client, and on loopback the receiving side's TCP work
is charged to the sender too (py-spy: 18 % of a prediction's CPU in ``send``). The
worker gathers a response's writes and sends them together when the answer is
complete, or earlier when it grows past ``GATHER_LIMIT``.
"""

from __future__ import annotations

import importlib
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker

# What ``monkey.patch_all()`` imports in each worker, imported here in the master (this
# module is loaded by the master, which never patches): every worker then shares these
# modules' pages instead of holding its own copy.
for _name in (
    "_threading_local", "gevent.events", "gevent.local", "gevent.select", "gevent.selectors",
    "gevent.signal", "gevent.ssl", "gevent.subprocess", "gevent.thread", "gevent.threading",
    "gevent.time",
):  # fmt: skip
    importlib.import_module(_name)

#: Bytes gathered before they are sent anyway (a large streamed answer goes out in parts).
GATHER_LIMIT = 256 * 1024
#: The timer a greenlet yields on after each answer: due at once, run after the next poll.
YIELD_SECONDS = 1e-6


class GatheredSends:
    """A connection as gunicorn's response writer sees it: ``sendall`` gathers, ``flush``
    sends. Anything else is the connection's own, after what was gathered has been sent,
    so nothing overtakes it (``100 Continue``, ``sendfile``, the shutdown after a failure).
    """

    def __init__(self, raw: Any) -> None:
        #: The connection itself (deadline watchers need the real socket).
        self.raw = raw
        self._pending: list[bytes] = []
        self._size = 0

    def sendall(self, data: bytes | memoryview) -> None:
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size > GATHER_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            self.raw.sendall(data)

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self.raw, name)


class FairGeventWorker(GeventWorker):  # type: ignore[misc]
    """``gevent`` worker that sends each answer in one write and then yields."""

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        gathered = GatheredSends(sock)
        try:
            return super().handle_request(listener_name, req, gathered, addr)
        finally:
            try:
                gathered.flush()
            finally:
                gevent.sleep(YIELD_SECONDS)
