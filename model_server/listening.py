"""Whether the server's address is free before its workers bind it.

With ``REUSE_PORT`` each worker binds its own ``SO_REUSEPORT`` socket, and the kernel
lets any socket of the same user with that option join: a second server started on
the port of a running one would not fail, it would silently take half of its
connections. A plain socket cannot bind where anything listens, so one probe bind
(without ``SO_REUSEPORT``) tells.
"""

from __future__ import annotations

import errno
import socket


def in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (``0`` is never in use)."""
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Connections of a server that just stopped (TIME_WAIT) do not count, as for gunicorn.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False
