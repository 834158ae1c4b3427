"""``python -m model_server`` / ``sentiment-server``: the production server.

gunicorn (gthread workers) serving ``model_server.app:create_app()`` with the
settings of ``model_server.gunicorn_conf``, all read from the environment.
Exit status: 2 for a bad environment, 4 when the model cannot be loaded.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from model_server.config import ConfigError, Settings

CONFIG_ERROR = 2


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn running the model server with the package's config module."""

    def load_config(self) -> None:
        from model_server import gunicorn_conf

        for name, value in vars(gunicorn_conf).items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)

    def load(self) -> Any:
        from model_server.app import create_app

        return create_app()


def main() -> int:
    """Check the environment, then run gunicorn until it stops."""
    try:
        Settings.from_env()
    except ConfigError as error:
        print(f"sentiment-server: configuration error: {error}", file=sys.stderr)
        return CONFIG_ERROR
    _Server(prog="sentiment-server").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
