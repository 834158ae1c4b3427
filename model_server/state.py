"""The served model and, in each process that scores, what runs it: direct or micro-batched."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from model_server.batching import MicroBatcher
from model_server.loading import LoadedModel, Prediction


class Predictor(Protocol):
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


#: Texts scored between two yields of the direct path.
SLICE = 32


class Direct:
    """Scores on the calling thread (or greenlet): for a scorer that works review by review,
    merging requests saves nothing, and handing them to another thread costs a wake-up.

    A large batch yields between slices (``time.sleep(0)``: a greenlet switch under
    gevent, a GIL release under threads), so it does not hold up the worker's other
    requests for its whole duration.
    """

    def __init__(self, predict: Callable[[Sequence[str]], list[Prediction]]) -> None:
        self._predict = predict

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if len(texts) <= SLICE:
            return self._predict(texts)
        results: list[Prediction] = []
        for start in range(0, len(texts), SLICE):
            results += self._predict(texts[start : start + SLICE])
            time.sleep(0)
        return results


@dataclass(frozen=True)
class ServingModel:
    """A loaded, warmed-up model and what runs it."""

    model: LoadedModel
    batcher: Predictor


class ModelSlot:
    """The model loaded once (in the gunicorn master, before the fork) and its predictor.

    The Pipeline (generic path) pays a fixed cost per call, so its requests are merged by
    a micro-batcher; threads do not survive ``fork``, so each worker starts its own
    batcher thread the first time it scores, over the model pages it shares with the
    master. The compiled scorer is called directly.
    """

    def __init__(self, model: LoadedModel, max_batch_texts: int) -> None:
        self.model = model
        self._max_batch_texts = max_batch_texts
        self._lock = threading.Lock()
        self._serving: ServingModel | None = None
        self._pid = 0

    @property
    def serving(self) -> ServingModel:
        serving, pid = self._serving, os.getpid()
        if serving is not None and self._pid == pid:
            return serving
        batcher = None
        with self._lock:
            if self._serving is None or self._pid != pid:
                predictor = self._predictor()
                self._serving, self._pid = ServingModel(self.model, predictor), pid
                batcher = predictor if isinstance(predictor, MicroBatcher) else None
            serving = self._serving
        # Started with the lock released, as nothing may wait while holding it: in a gevent
        # worker it is a real OS lock (made in the master, before the worker monkey-patches),
        # and ``start()`` waits for the new greenlet, switching to the others; one of them
        # asking for ``serving`` meanwhile would block the worker's only thread for good.
        # Requests queued before the thread runs are scored once it does.
        if batcher is not None:
            batcher.start()
        return serving

    def _predictor(self) -> Predictor:
        if self.model.scorer is not None:
            return Direct(self.model.predict)
        return MicroBatcher(self.model.predict, self._max_batch_texts, start_now=False)
