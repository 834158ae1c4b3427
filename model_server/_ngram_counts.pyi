"""Word n-gram counts of a text over a vocabulary (C, ``_ngram_counts.c``)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Anything with the buffer protocol over C-contiguous 8-byte items.
_Items = bytes | np.ndarray[Any, Any]

def term_keys(terms: Sequence[str], /) -> bytes: ...
def build_table(keys: _Items, columns: _Items, /) -> tuple[bytes, bytes]: ...
def count(
    text: str,
    min_run: int,
    singles: str,
    low: int,
    high: int,
    slot_keys: bytes,
    slot_columns: bytes,
    /,
) -> tuple[bytes, bytes]: ...
