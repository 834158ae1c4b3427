"""A TCP proxy that holds every connection until released: a registry that is slow to answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


class StallingProxy:
    """Accepts connections on loopback and forwards them to ``target`` once ``release()``d."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._released.wait()
        with client, socket.create_connection(self._target) as upstream:
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def stalling_proxy(url_host: str, url_port: int) -> Iterator[StallingProxy]:
    proxy = StallingProxy(url_host, url_port)
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def stalling_registry(tracking_uri: str) -> Iterator[StallingProxy]:
    """A stalling proxy in front of the MLflow server at ``tracking_uri``."""
    registry = urlsplit(tracking_uri)
    assert registry.hostname is not None
    assert registry.port is not None
    with stalling_proxy(registry.hostname, registry.port) as proxy:
        yield proxy
