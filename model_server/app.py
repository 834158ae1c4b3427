"""Flask application factory of the model server.

``create_app(settings, model)`` serves a model already loaded (by the gunicorn
master, before it forks the workers); without one it loads it first, so
``gunicorn 'model_server.app:create_app()'`` works too (with ``preload_app``, as
``model_server.gunicorn_conf`` sets, the load still happens once, in the master).
"""

from __future__ import annotations

import os

from flask import Flask

from model_server.api import Api
from model_server.config import Settings
from model_server.deadlines import BodyDeadlines
from model_server.loading import LoadedModel
from model_server.metrics import ServerMetrics
from model_server.state import ModelSlot


def create_app(settings: Settings | None = None, model: LoadedModel | None = None) -> Flask:
    """Build the app serving ``model`` (default: load the one the environment names)."""
    settings = settings or Settings.from_env()
    if model is None:
        from model_server.startup import load_or_exit

        model = load_or_exit(settings)
    app = Flask(__name__, static_folder=None)
    deadlines = BodyDeadlines(settings.body_timeout_seconds)
    metrics = ServerMetrics()
    slot = ModelSlot(model, settings.max_batch_size)
    Api(app, settings, metrics, slot, deadlines)
    identity = model.identity

    def announce() -> None:
        metrics.set_model(identity.name, identity.version, identity.run_id)

    # Each worker announces the model in its own multiprocess file (the gauge is livemax).
    os.register_at_fork(after_in_child=announce)
    announce()
    return app
