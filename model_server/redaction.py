"""Keep credentials out of logs: MLflow's errors quote the tracking URL, user:password and all."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

SECRET_ENV = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
)
MASK = "***"
# User-info runs to the *last* "@" before the path: a raw "@" in a password must not
# leave its tail behind.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][\w+.-]*://)[^\s/?#]*@")


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` without URL user-info nor the values of the credential variables."""
    env = os.environ if env is None else env
    text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    for name in SECRET_ENV:
        value = env.get(name, "")
        if len(value) >= 4:  # shorter values would mask ordinary words
            text = text.replace(value, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output, tracebacks included, never shows a credential."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
