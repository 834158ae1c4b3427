"""Load the model once, before any worker exists, within the registry deadline.

The gunicorn master calls ``load_or_exit`` before it forks: every worker, and any
worker that replaces a crashed one, starts with the model already in memory
(copy-on-write pages shared with the master), so a worker is serving from its
first request and readiness means every worker serves.

Failure policy: a model that cannot be loaded (bad URI, registry unreachable,
missing version, wrong flavor, no ``predict_proba``) logs one line,
``model load failed: <uri>: <reason>``, and the process exits with status 4
before it listens. Kubernetes then restarts the container with exponential
back-off (CrashLoopBackOff) and the rollout's progress deadline lets the operator
roll back; a server is never half-ready.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import NoReturn

from model_server.config import Settings
from model_server.invocations import warm_up as warm_up_invocations
from model_server.loading import (
    LoadedModel,
    import_model_libraries,
    import_registry_client,
    load_model,
    one_line,
)
from model_server.memory import trim

APP_LOAD_ERROR = 4  # gunicorn's exit status for "App failed to load"
# MLflow retries seven times with back-off (about four minutes) by default; a few are enough.
MLFLOW_RETRIES = "2"

log = logging.getLogger(__name__)


def load_or_exit(settings: Settings) -> LoadedModel:
    """The loaded, proven and warmed-up model; or one log line and exit status 4."""
    deadline = settings.registry_timeout_seconds
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(deadline))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", MLFLOW_RETRIES)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    log.info(
        "loading model %s from tracking server %s", settings.model_uri, settings.safe_tracking_uri
    )
    outcome: list[LoadedModel | BaseException] = []

    def run() -> None:
        try:
            outcome.append(load_model(settings))
        except BaseException as error:  # reported by the waiting thread
            outcome.append(error)

    started = time.monotonic()
    # MLflow first, here: the loader then mostly waits on the registry and the download,
    # and this thread imports what loading needs next meanwhile. (Importing the two sets
    # at once from two threads could meet a module half-initialised by the other.)
    import_registry_client()
    loader = threading.Thread(target=run, name="model-loader", daemon=True)
    loader.start()
    import_model_libraries()
    loader.join(max(0.0, deadline - (time.monotonic() - started)))
    if not outcome:
        _fail(
            settings,
            f"the registry {settings.safe_tracking_uri} gave no model within {deadline} s "
            "(no connection, or no answer; REGISTRY_TIMEOUT_SECONDS)",
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        _fail(settings, one_line(result))
    identity = result.identity
    log.info(
        "model ready: %s version %s (run %s) from %s, %s path",
        identity.name, identity.version, identity.run_id or "-", identity.source_uri,
        "compiled" if result.scorer is not None else "generic",
    )  # fmt: skip
    warm_up_invocations(result.text_column, result.input_schema)
    # Objects that live as long as the process: keep the collector from touching (and so
    # copying) their pages in every worker. What loading freed goes back to the OS first,
    # so the workers do not inherit it. The collector is on from here (``main`` starts
    # with it off). No collection first: over everything imported it took 0.2-0.3 s of
    # the start and found ~1,400 unreachable objects (cycles of a few KiB in all).
    trim()
    gc.freeze()
    gc.enable()
    return result


def _fail(settings: Settings, reason: str) -> NoReturn:
    log.critical("model load failed: %s: %s", settings.model_uri, reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(APP_LOAD_ERROR)
