"""The worker's model slot: empty while the model loads, then ready to predict."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from model_server.batching import MicroBatcher
from model_server.loading import LoadedModel, Prediction, one_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """A loaded, warmed-up model and the batcher that runs it."""

    model: LoadedModel
    batcher: MicroBatcher[Prediction]


class ModelSlot:
    """Holds the serving model once it is ready; ``None`` before."""

    def __init__(self) -> None:
        self._serving: ServingModel | None = None

    @property
    def serving(self) -> ServingModel | None:
        return self._serving

    def load_in_background(
        self,
        load: Callable[[], LoadedModel],
        *,
        max_batch_texts: int,
        source: str,
        on_ready: Callable[[LoadedModel], None],
        on_failure: Callable[[], None],
    ) -> threading.Thread:
        """Load on a thread; fill the slot on success, else log one line and call ``on_failure``."""

        def run() -> None:
            try:
                model = load()
                serving = ServingModel(model, MicroBatcher(model.predict, max_batch_texts))
                on_ready(model)
            except Exception as error:  # whatever it is, never a half-ready worker
                log.critical("model load failed: %s: %s", source, one_line(error))
                on_failure()
                return
            self._serving = serving
            identity = model.identity
            log.info(
                "model ready: %s version %s (run %s) from %s",
                identity.name, identity.version, identity.run_id or "-", identity.source_uri,
            )  # fmt: skip

        thread = threading.Thread(target=run, name="model-loader", daemon=True)
        thread.start()
        return thread
