"""Hash reviews on every core: a stateless vectorizer's ``transform`` over row chunks.

Tokenising and hashing is pure Python holding the GIL, the longest step of a fit and
of scoring. The hashing step learns nothing, so transforming chunks of rows in forked
worker processes and stacking the results in order gives exactly the matrix of one
``transform`` (``tests/training/test_parallel.py``); the model does not change. Forked
workers inherit the imported modules and the reviews, so they start at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any, Protocol

import pandas as pd
import scipy.sparse as sp

log = logging.getLogger(__name__)
#: Below this many reviews a single process is as fast (worker start and transfer).
MIN_PARALLEL_ROWS = 4000
#: Chunks per worker: reviews differ in length, smaller chunks even the load out.
CHUNKS_PER_WORKER = 4


class Transformer(Protocol):
    """A fitted step whose ``transform`` depends on each row alone (hashing)."""

    def transform(self, frame: pd.DataFrame) -> Any: ...


# Set in the parent just before forking; the workers read it, never the parent.
_JOB: tuple[Transformer, pd.DataFrame] | None = None


def _transform_rows(bounds: tuple[int, int]) -> sp.csr_matrix:
    assert _JOB is not None, "only called in a forked worker"
    step, frame = _JOB
    return sp.csr_matrix(step.transform(frame.iloc[bounds[0] : bounds[1]]))


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def transform_rows(step: Transformer, frame: pd.DataFrame, workers: int = 0) -> sp.csr_matrix:
    """``step.transform(frame)`` as CSR, in ``workers`` processes (0: one per core)."""
    global _JOB
    workers = workers or available_cores()
    if (
        workers < 2
        or len(frame) < MIN_PARALLEL_ROWS
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return sp.csr_matrix(step.transform(frame))
    chunks = workers * CHUNKS_PER_WORKER
    edges = [len(frame) * i // chunks for i in range(chunks + 1)]
    log.info("hashing %d reviews in %d processes", len(frame), workers)
    _JOB = (step, frame)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_transform_rows, pairwise(edges)))
    finally:
        _JOB = None
    return sp.csr_matrix(sp.vstack(parts, format="csr"))
