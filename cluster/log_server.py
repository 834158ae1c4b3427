"""The kubelet's log endpoint, so that ``kubectl logs`` works.

The apiserver proxies ``kubectl logs`` to ``https://NODE:10250/containerLogs/NS/POD/C``
with its kubelet client certificate; this answers from the container log files.
"""

from __future__ import annotations

import http.server
import re
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from local_cluster import network

PORT = 10250
_PATH = re.compile(r"^/containerLogs/([^/]+)/([^/]+)/([^/]+)$")


def log_files(pods: Path, namespace: str, pod: str, container: str) -> list[Path]:
    """The container's log files, one per start, oldest first."""
    folders = sorted(
        pods.glob(f"{namespace}_{pod}_*/logs/{container}"), key=lambda p: p.stat().st_mtime
    )
    if not folders:
        return []
    return sorted(folders[-1].glob("*.log"), key=lambda p: int(p.stem))


class _Handler(http.server.BaseHTTPRequestHandler):
    pods: Path

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        if not match:
            self.send_error(404, "not found")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        files = log_files(self.pods, *match.groups())
        if query.get("previous") == "true":
            files = files[:-1]
        if not files:
            self.send_error(404, f"no logs for container {match[3]}")
            return
        text = files[-1].read_bytes()
        if "tailLines" in query:
            text = b"".join(text.splitlines(keepends=True)[-int(query["tailLines"]) :])
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(text)
        if query.get("follow") == "true":
            self._follow(files[-1], len(files[-1].read_bytes()))

    def _follow(self, path: Path, offset: int) -> None:
        while True:
            size = path.stat().st_size
            if size > offset:
                with path.open("rb") as log:
                    log.seek(offset)
                    chunk = log.read(size - offset)
                offset = size
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    return
            time.sleep(0.5)


def serve(pods: Path, cert: Path, key: Path, ca: Path) -> http.server.ThreadingHTTPServer:
    """Serve in a daemon thread on the node address; clients need a certificate of the CA."""
    handler = type("Handler", (_Handler,), {"pods": pods})
    server = http.server.ThreadingHTTPServer((str(network.GATEWAY), PORT), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="log-server", daemon=True).start()
    return server
