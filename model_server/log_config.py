"""The server's logging: one line per record, credentials masked, on standard error."""

from __future__ import annotations

from typing import Any


def log_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server's processes, at ``level``."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {
                "()": "model_server.redaction.RedactingFormatter",
                "format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }
