"""Request bodies: read as UTF-8 text within limits, and never left half-read."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from flask import Request

from model_server.deadlines import BodyDeadlines
from model_server.errors import ApiError

JSON = "application/json"
CSV = "text/csv"
UTF8_NAMES = frozenset({"utf-8", "utf8"})
#: Set in the WSGI environ once the app has read the whole declared body.
BODY_READ = "model_server.body_read"

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def read_text_body(
    request: Request, accepted: Collection[str], max_bytes: int, deadlines: BodyDeadlines
) -> str:
    """The body decoded as UTF-8; ``ApiError`` 415 (media type), 413 (size), 400 (encoding,
    framing) or 408 (not received within the deadline)."""
    if request.mimetype not in accepted:
        given = request.mimetype or "none"
        raise ApiError(415, f"Content-Type must be {' or '.join(accepted)}, not {given}")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in UTF8_NAMES:
        raise ApiError(415, f"the body must be UTF-8, not {charset}")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    with deadlines.guard(request.environ) as expired:
        try:
            body = _read(request, length, max_bytes)
        except Exception as error:  # the WSGI server's framing errors: bad chunks, a cut upload
            if expired():
                raise late_body(deadlines) from None
            raise ApiError(400, f"the request body cannot be read: {_reason(error)}") from None
        if expired():
            raise late_body(deadlines)
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {error.start})") from None


def _read(request: Request, length: int | None, max_bytes: int) -> bytes:
    """The body: ``length`` bytes straight from the WSGI input when it is declared (the
    spec allows reading that much; werkzeug's wrapper stream cost ~18 us a request),
    else one byte past the limit, to see a chunked body is over it."""
    if length is None:
        return request.stream.read(max_bytes + 1)
    body: bytes = request.environ["wsgi.input"].read(length)
    if len(body) < length:
        raise ValueError(f"it ended after {len(body)} of its {length} bytes (Content-Length)")
    request.environ[BODY_READ] = True
    return body


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"the body is over the limit of {max_bytes} bytes")


def late_body(deadlines: BodyDeadlines) -> ApiError:
    """The 408 for a body that did not arrive within the deadline."""
    return ApiError(408, f"the request body did not arrive within {deadlines.seconds:g} s")


class DrainUnreadBody:
    """WSGI middleware: read what the app left of the request body before answering.

    gunicorn's gthread worker drains an unread body only after the response is sent,
    by which time a keep-alive client may already have sent its next request; that
    request then lands in gunicorn's buffer instead of the socket, the poller never
    sees it, and the connection dies at the keep-alive timeout (gunicorn#3301).
    Draining first keeps the socket empty. Bodies past ``max_bytes`` are left to
    gunicorn, which closes such connections.
    """

    def __init__(self, app: WSGIApplication, max_bytes: int, deadlines: BodyDeadlines) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.deadlines = deadlines

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = self.app(environ, start_response)
        if environ.get(BODY_READ) or not _has_body(environ):
            return response  # nothing left: no deadline to set, no read to make
        stream = environ.get("wsgi.input")
        drained = 0
        with self.deadlines.guard(environ):
            while stream is not None and drained <= self.max_bytes:
                try:
                    chunk = stream.read(65536)
                except Exception:  # a malformed or late body: the server closes the connection
                    break
                if not chunk:
                    break
                drained += len(chunk)
        return response


def _has_body(environ: WSGIEnvironment) -> bool:
    """Whether the request declares a body (a length other than 0, or chunks)."""
    return "HTTP_TRANSFER_ENCODING" in environ or environ.get("CONTENT_LENGTH", "") not in ("", "0")


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
