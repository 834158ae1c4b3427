"""Request bodies: read as UTF-8 text within limits and deadlines."""

from __future__ import annotations

from collections.abc import Collection

from flask import Request

from model_server.deadlines import BodyDeadlines
from model_server.errors import ApiError

JSON = "application/json"
CSV = "text/csv"
UTF8_NAMES = frozenset({"utf-8", "utf8"})


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
    return body


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"the body is over the limit of {max_bytes} bytes")


def late_body(deadlines: BodyDeadlines) -> ApiError:
    """The 408 for a body that did not arrive within the deadline."""
    return ApiError(408, f"the request body did not arrive within {deadlines.seconds:g} s")


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
