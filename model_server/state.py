"""The served model and, in each process that scores, the batcher thread that runs it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from model_server.batching import MicroBatcher
from model_server.loading import LoadedModel, Prediction


@dataclass(frozen=True)
class ServingModel:
    """A loaded, warmed-up model and the batcher that runs it."""

    model: LoadedModel
    batcher: MicroBatcher[Prediction]


class ModelSlot:
    """The model loaded once (in the gunicorn master, before the fork) and its batcher.

    Threads do not survive ``fork``: each worker starts its own batcher thread the
    first time it scores, over the model pages it shares with the master.
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
        if serving is None or self._pid != pid:
            with self._lock:
                if self._serving is None or self._pid != pid:
                    batcher = MicroBatcher(self.model.predict, self._max_batch_texts)
                    self._serving, self._pid = ServingModel(self.model, batcher), pid
                serving = self._serving
        return serving
