"""Hostile HTTP clients on loopback: connections that trickle or stall their requests.

One thread drives them all (non-blocking sockets and a selector), so hundreds cost
the test or benchmark process almost nothing. Each connection is one of four kinds:

- ``head``: a request line and headers that arrive one byte per tick and never end;
- ``body``: a whole head declaring a body that then arrives one byte per tick;
- ``short``: a body shorter than its ``Content-Length``, then silence;
- ``chunked``: one chunk of a chunked body, then silence.

Every connection the server answers or closes is recorded as an ``Outcome``; with
``reopen`` a new one of the same kind takes its place, so ``count`` stay open.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

KINDS = ("head", "body", "short", "chunked")
_JSON_HEAD = "POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
_OPENING = {
    "head": b"POST /predict HTTP/1.1\r\nHost: bench\r\nX-Slow: ",
    "body": f"{_JSON_HEAD}Content-Length: 100000\r\n\r\n".encode(),
    "short": f'{_JSON_HEAD}Content-Length: 1000\r\n\r\n{{"text": "cut'.encode(),
    "chunked": f'{_JSON_HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\n{{"tex\r\n'.encode(),
}
_TRICKLE = {"head": b"a", "body": b" "}  # the kinds that keep sending, one byte per tick


@dataclass(frozen=True)
class Outcome:
    """How the server ended one slow connection."""

    kind: str
    seconds: float  # from connecting until the answer or the close
    status: int | None  # the HTTP status it answered, None for a close without an answer


@dataclass
class _Conn:
    kind: str
    sock: socket.socket
    opened: float
    received: bytes = b""


class SlowClients:
    """``count`` slow connections to ``host:port``, the kinds in turn."""

    def __init__(
        self,
        host: str,
        port: int,
        count: int,
        *,
        kinds: Sequence[str] = KINDS,
        tick: float = 1.0,
        reopen: bool = True,
    ) -> None:
        self.address = (host, port)
        self.tick = tick
        self.reopen = reopen
        self.outcomes: list[Outcome] = []
        self.failed_connects = 0
        self._kinds = itertools.cycle(kinds)
        self._selector = selectors.DefaultSelector()
        self._conns: dict[int, _Conn] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        for _ in range(count):
            self._open(next(self._kinds))
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._thread.start()

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._conns)

    def stop_reopening(self) -> None:
        self.reopen = False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for conn in list(self._conns.values()):
            conn.sock.close()
        self._conns.clear()
        self._selector.close()

    def _open(self, kind: str) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=10)
            sock.sendall(_OPENING[kind])
        except OSError:
            self.failed_connects += 1
            return
        sock.setblocking(False)
        conn = _Conn(kind, sock, time.monotonic())
        with self._lock:
            self._conns[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _finish(self, conn: _Conn) -> None:
        status = None
        if conn.received.startswith(b"HTTP/1."):
            with contextlib.suppress(IndexError, ValueError):
                status = int(conn.received.split(b" ", 2)[1])
        self.outcomes.append(Outcome(conn.kind, time.monotonic() - conn.opened, status))
        self._selector.unregister(conn.sock)
        with self._lock:
            del self._conns[conn.sock.fileno()]
        conn.sock.close()
        if self.reopen and not self._stop.is_set():
            self._open(conn.kind)

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            for key, _ in self._selector.select(timeout):
                conn: _Conn = key.data
                try:
                    data = conn.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:  # reset by the server
                    data = b""
                if data and not conn.received:
                    conn.received = data
                    self._finish(conn)  # answered: the status is all we need
                elif not data:
                    self._finish(conn)
            if time.monotonic() >= next_tick:
                next_tick += self.tick
                for conn in list(self._conns.values()):
                    byte = _TRICKLE.get(conn.kind)
                    if byte is not None:
                        with contextlib.suppress(OSError):  # the close is seen by the reader
                            conn.sock.send(byte)


@contextlib.contextmanager
def slow_clients(host: str, port: int, count: int, **options: object) -> Iterator[SlowClients]:
    """``SlowClients`` for the duration of the block."""
    clients = SlowClients(host, port, count, **options)  # type: ignore[arg-type]
    try:
        yield clients
    finally:
        clients.close()
