"""The ``Date`` header of every answer, formatted once a second instead of once a request.

gunicorn formats the current time anew for each response (``gunicorn.util.http_date``,
through ``email.utils.formatdate``): about 2 % of a single prediction's CPU. HTTP dates
have a resolution of one second, so the text of the current second is kept and reused.
"""

from __future__ import annotations

import email.utils
import time

from gunicorn import util

_cached: tuple[int, str] = (-1, "")


def http_date(timestamp: float | None = None) -> str:
    """``gunicorn.util.http_date``: the given time, or now, as an HTTP date."""
    global _cached  # one (second, text) pair, replaced whole: threads read a consistent one
    if timestamp is not None:
        return email.utils.formatdate(timestamp, localtime=False, usegmt=True)
    now = time.time()
    second = int(now)
    cached_second, text = _cached
    if second != cached_second:
        text = email.utils.formatdate(second, localtime=False, usegmt=True)
        _cached = (second, text)
    return text


def install() -> None:
    """Have gunicorn's responses take their ``Date`` from here."""
    util.http_date = http_date
