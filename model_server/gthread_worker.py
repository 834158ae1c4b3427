"""gunicorn's gthread worker, answering requests that come pipelined behind another.

After an answer on a keep-alive connection, the gthread worker hands the socket back
to its poller and waits for it to become readable. A client that sent its next
request together with the previous one (pipelining) has nothing more to send: that
request already sits in the connection's read buffer, the socket never becomes
readable again, and the request went unanswered until the keep-alive timeout closed
the connection. This worker serves the buffered request at once instead.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import ThreadWorker


def has_read_ahead(conn: Any) -> bool:
    """Whether the connection's parser holds bytes it read past the last request."""
    parser = getattr(conn, "parser", None)
    buffer = getattr(getattr(parser, "unreader", None), "buf", None)
    if buffer is None:
        return False
    with buffer.getbuffer() as view:
        return bool(view.nbytes > 0)


class PipeliningThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` worker that serves a pipelined request without waiting on the poller."""

    def finish_request(self, conn: Any, fs: Future[Any]) -> None:
        keep_alive = not fs.cancelled() and fs.exception() is None and fs.result() is True
        if keep_alive and self.alive and has_read_ahead(conn):
            self.enqueue_req(conn)
            return
        super().finish_request(conn, fs)
