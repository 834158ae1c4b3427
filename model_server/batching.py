"""Opportunistic micro-batching of predictions inside one worker.

Each Pipeline call pays a fixed cost (DataFrame and column checks, sparse matrix
set-up) several times that of scoring one short review. One thread runs the
model; requests that arrive while it is busy wait in a queue and are then scored
together in one call. An idle server adds no delay: a lone request is scored as
soon as it arrives.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass
class _Job(Generic[R]):
    texts: Sequence[str]
    future: Future[list[R]]


class MicroBatcher(Generic[R]):
    """Runs ``predict`` on a background thread over merged batches of at most ``max_texts``."""

    def __init__(
        self, predict: Callable[[list[str]], list[R]], max_texts: int, *, start_now: bool = True
    ) -> None:
        self._predict = predict
        self._max_texts = max_texts
        self._jobs: queue.SimpleQueue[_Job[R]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        if start_now:
            self.start()

    def start(self) -> None:
        """Start the scoring thread (when made with ``start_now=False``); requests queued
        before it starts are scored once it runs."""
        self._thread.start()

    def predict(self, texts: Sequence[str]) -> list[R]:
        """Predict ``texts`` (blocking), possibly in the same model call as other requests."""
        future: Future[list[R]] = Future()
        self._jobs.put(_Job(texts, future))
        return future.result()

    def _run(self) -> None:
        carried: _Job[R] | None = None
        while True:
            batch = [carried or self._jobs.get()]
            carried = None
            size = len(batch[0].texts)
            while size < self._max_texts:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if size + len(job.texts) > self._max_texts:
                    carried = job
                    break
                batch.append(job)
                size += len(job.texts)
            self._score(batch)

    def _score(self, batch: list[_Job[R]]) -> None:
        texts = [text for job in batch for text in job.texts]
        try:
            results = self._predict(texts)
        except Exception as error:  # handed to the waiting requests, never kills the thread
            for job in batch:
                job.future.set_exception(error)
            return
        start = 0
        for job in batch:
            job.future.set_result(results[start : start + len(job.texts)])
            start += len(job.texts)
