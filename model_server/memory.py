"""Keep glibc's heap small: one arena for every thread, and memory freed after a large
request given back to the operating system.

A megabyte body becomes megabyte strings and token lists that are freed after the
answer, but glibc keeps freed heap pages for reuse, so a worker that once served a
few large requests at once would hold that memory for good. ``malloc_trim`` returns
them; it costs about a millisecond, so it runs only after large requests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Mapping

LARGE_BODY_BYTES = 256 * 1024


#: glibc's ``mallopt`` parameter for the most arenas (malloc.h).
M_ARENA_MAX = -8


def _glibc_function(name: str) -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function: Callable[..., int] = getattr(libc, name)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None
    return function


_TRIM = _glibc_function("malloc_trim")
_MALLOPT = _glibc_function("mallopt")


def release_after(body_bytes: int | None) -> None:
    """Return freed heap pages to the OS if the request that just ended was large."""
    if _TRIM is not None and body_bytes is not None and body_bytes >= LARGE_BODY_BYTES:
        _TRIM(0)


def trim() -> None:
    """Return every freed heap page to the OS now (a no-op where there is no glibc)."""
    if _TRIM is not None:
        _TRIM(0)


def one_arena(environ: Mapping[str, str]) -> bool:
    """Have every thread allocate from glibc's main arena, unless ``MALLOC_ARENA_MAX`` is
    set; call before any thread starts. Whether it was set.

    glibc gives each new thread an arena of its own (up to 8 per core): the model loaded on
    one thread while another imports left two half-used heaps, 25 MiB more PSS in the
    server. Its threads are few and allocate under the GIL, so one arena costs nothing.
    """
    if _MALLOPT is None or "MALLOC_ARENA_MAX" in environ:
        return False
    return bool(_MALLOPT(M_ARENA_MAX, 1))
