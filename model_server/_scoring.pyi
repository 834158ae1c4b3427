"""The compiled scorer's C parts: word n-gram counts, the linear decision (``_scoring.c``)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Anything with the buffer protocol over C-contiguous 8-byte items.
_Items = bytes | np.ndarray[Any, Any]

def term_keys(terms: Sequence[str], /) -> bytes: ...
def build_table(keys: _Items, columns: _Items, /) -> bytes: ...
def is_closed(terms: Sequence[str], table: bytes, /) -> bool: ...
def count(
    text: str,
    min_run: int,
    singles: str,
    low: int,
    high: int,
    table: bytes,
    closed: bool,
    /,
) -> tuple[bytes, bytes]: ...
def linear_decision(
    columns: _Items,
    counts: _Items,
    sublinear: bool,
    factors: _Items | None,
    norm: int,
    weights: _Items,
    /,
) -> float: ...
