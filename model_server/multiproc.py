"""The directory where prometheus-client's multiprocess mode keeps every worker's values.

It must exist, empty of a previous run's values, before prometheus-client is
imported by any process that forks workers: the library picks its storage when
first imported. So this module must not import it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from model_server import contract

MULTIPROC_ENV = contract.ENV_METRICS_DIR


def prepare_metrics_dir(env: MutableMapping[str, str] | None = None) -> Path:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temp dir when unset) and clear old values."""
    env = os.environ if env is None else env
    configured = env.get(MULTIPROC_ENV, "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="sentiment-metrics-"))
        env[MULTIPROC_ENV] = str(path)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path
