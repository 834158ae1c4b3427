"""Vectorise reviews on every core: a per-row ``transform`` (or any function) over row chunks.

Tokenising and hashing is pure Python holding the GIL, the longest step of a fit and
of scoring. A fitted vectorizer (hashing, or counting a fixed vocabulary) transforms
each row alone, so transforming chunks of rows in forked worker processes and stacking
the results in order gives exactly the matrix of one ``transform``
(``tests/training/test_parallel.py``); the model does not change. Forked workers
inherit the imported modules and the reviews, so they start at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any, Protocol, TypeVar

import pandas as pd
import scipy.sparse as sp

log = logging.getLogger(__name__)
#: Below this many reviews a single process is as fast (worker start and transfer).
MIN_PARALLEL_ROWS = 4000
#: Chunks per worker: reviews differ in length, smaller chunks even the load out.
CHUNKS_PER_WORKER = 4


T = TypeVar("T")


class Transformer(Protocol):
    """A fitted step whose ``transform`` depends on each row alone (hashing, a fixed vocabulary)."""

    def transform(self, frame: pd.DataFrame) -> Any: ...


# Set in the parent just before forking; the workers read it, never the parent.
_JOB: tuple[Callable[[Any], Any], Any] | None = None


def _run_chunk(bounds: tuple[int, int]) -> Any:
    assert _JOB is not None, "only called in a forked worker"
    function, rows = _JOB
    return function(rows.iloc[bounds[0] : bounds[1]])


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def chunk_count(rows: int, workers: int = 0, per_worker: int = CHUNKS_PER_WORKER) -> int:
    """How many chunks ``map_chunks`` cuts ``rows`` rows into (1: no worker process)."""
    workers = workers or available_cores()
    if (
        workers < 2
        or rows < MIN_PARALLEL_ROWS
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return workers * per_worker


def map_chunks(
    function: Callable[[Any], T], rows: Any, workers: int = 0, per_worker: int = CHUNKS_PER_WORKER
) -> list[T]:
    """``function`` of consecutive row chunks of ``rows`` (a DataFrame or Series), in order,
    in ``workers`` processes (0: one per core); one chunk in this process when small."""
    global _JOB
    chunks = chunk_count(len(rows), workers, per_worker)
    if chunks == 1:
        return [function(rows)]
    workers = chunks // per_worker
    edges = [len(rows) * i // chunks for i in range(chunks + 1)]
    log.info("%d reviews in %d processes", len(rows), workers)
    _JOB = (function, rows)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_chunk, pairwise(edges)))
    finally:
        _JOB = None


def transform_rows(step: Transformer, frame: pd.DataFrame, workers: int = 0) -> sp.csr_matrix:
    """``step.transform(frame)`` as CSR, in ``workers`` processes (0: one per core)."""
    parts = map_chunks(lambda chunk: sp.csr_matrix(step.transform(chunk)), frame, workers)
    return parts[0] if len(parts) == 1 else sp.csr_matrix(sp.vstack(parts, format="csr"))
