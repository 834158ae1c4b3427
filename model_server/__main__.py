"""``python -m model_server`` / ``sentiment-server``: the production server.

Loads the model once in this process, then runs gunicorn (settings of
``model_server.gunicorn_conf``, all from the environment), whose workers fork
from it with the model in memory. Exit status: 2 for a bad environment, 4 when
the model cannot be loaded.
"""

from __future__ import annotations

import gc
import logging.config
import os
import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from model_server.compiler_process import CompilerProcess
from model_server.config import ConfigError, Settings
from model_server.listening import in_use
from model_server.memory import one_arena

CONFIG_ERROR = 2


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn running an app built once, in the master, with the package's config module."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        super().__init__(prog="sentiment-server")

    def load_config(self) -> None:
        from model_server import gunicorn_conf

        for name, value in vars(gunicorn_conf).items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)

    def load(self) -> Any:
        return self._factory()


def main() -> int:
    """Check the environment, load the model, then run gunicorn until it stops."""
    # Start-up only allocates what the process keeps (modules, the model): the collector's
    # passes over it are pure cost (about 0.3 s of a 4 s start). ``load_or_exit`` collects
    # once and turns it back on before any worker is forked.
    gc.disable()
    one_arena(os.environ)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"sentiment-server: configuration error: {error}", file=sys.stderr)
        return CONFIG_ERROR
    if settings.reuse_port and in_use(settings.host, settings.port):
        print(
            f"sentiment-server: configuration error: {settings.host} port {settings.port} "
            "is in use (PORT)",
            file=sys.stderr,
        )
        return CONFIG_ERROR
    # Before anything else is imported: the compiler process imports scikit-learn on the
    # other core meanwhile (the longest part of the start).
    compiler = CompilerProcess.start(settings.log_level)
    # First: it prepares the metrics dir, which must exist before prometheus-client loads.
    from model_server import gunicorn_conf

    logging.config.dictConfig(gunicorn_conf.logconfig_dict)
    from model_server.app import create_app
    from model_server.startup import load_or_exit

    model = load_or_exit(settings, compiler)
    _Server(lambda: create_app(settings, model)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
