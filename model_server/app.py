"""Flask application factory of the model server.

``create_app()`` returns at once and loads the model on a background thread, so
``/healthz`` answers while the model downloads; ``/readyz`` turns 200 only once
the model is loaded and has answered a warm-up prediction.

Start-up failure policy: a model that cannot be loaded (bad URI, registry down,
missing version, wrong flavor, no ``predict_proba``) logs one line,
``model load failed: <uri>: <reason>``, and the worker exits with code 4,
gunicorn's "app failed to load". The gunicorn master then stops and exits
non-zero too, so Kubernetes restarts the container with exponential back-off
(CrashLoopBackOff, visible in ``kubectl get pods`` and events) and the rollout's
progress deadline lets the operator roll back. A server that stayed up unready
instead would look like a slow start, retry nothing by itself, and hide the cause
in a log nobody reads; and it is never half-ready: it serves the model or exits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flask import Flask

from model_server.api import Api
from model_server.bodies import DrainUnreadBody
from model_server.config import Settings
from model_server.loading import LoadedModel, load_model
from model_server.metrics import ServerMetrics
from model_server.state import ModelSlot

APP_LOAD_ERROR = 4  # gunicorn's exit status for "App failed to load": the master halts too

log = logging.getLogger(__name__)


def exit_worker() -> None:
    """Leave the process at once with gunicorn's app-load-failure status."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(APP_LOAD_ERROR)


def create_app(
    settings: Settings | None = None,
    *,
    load: Callable[[Settings], LoadedModel] = load_model,
    on_load_failure: Callable[[], None] = exit_worker,
) -> Flask:
    """Build the app and start loading the model named by ``settings`` (default: the env)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.wsgi_app = DrainUnreadBody(app.wsgi_app, settings.max_body_bytes)  # type: ignore[method-assign]
    metrics = ServerMetrics()
    slot = ModelSlot()
    Api(app, settings, metrics, slot)
    slot.load_in_background(
        lambda: load(settings),
        max_batch_texts=settings.max_batch_size,
        source=settings.model_uri,
        on_ready=lambda model: metrics.set_model(
            model.identity.name, model.identity.version, model.identity.run_id
        ),
        on_failure=on_load_failure,
    )
    log.info(
        "loading model %s from tracking server %s",
        settings.model_uri, settings.safe_tracking_uri,
    )  # fmt: skip
    return app
