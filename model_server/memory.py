"""Give memory freed after a large request back to the operating system.

A megabyte body becomes megabyte strings and token lists that are freed after the
answer, but glibc keeps freed heap pages for reuse, so a worker that once served a
few large requests at once would hold that memory for good. ``malloc_trim`` returns
them; it costs about a millisecond, so it runs only after large requests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

LARGE_BODY_BYTES = 256 * 1024


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_TRIM = _load_trim()


def release_after(body_bytes: int | None) -> None:
    """Return freed heap pages to the OS if the request that just ended was large."""
    if _TRIM is not None and body_bytes is not None and body_bytes >= LARGE_BODY_BYTES:
        _TRIM(0)


def trim() -> None:
    """Return every freed heap page to the OS now (a no-op where there is no glibc)."""
    if _TRIM is not None:
        _TRIM(0)
