"""The operator's Python environment as its image has it: the ``operator`` extra only.

The test venv also holds the cluster's and the tests' packages; kopf imports the
official Kubernetes client whenever it is installed, so an operator started from the
test venv would neither use nor weigh what the image's does.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def operator_python() -> Path:
    """A venv with this checkout and the operator extra at the lock's pins, made once per
    process (uv, offline from the cache `make install` filled: seconds; the tests run
    in the cluster's network namespace, where no index is reachable)."""
    root = Path(tempfile.mkdtemp(prefix="operator-env-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    uv = [sys.executable, "-m", "uv"]
    python = root / "bin" / "python"
    for command in (
        [*uv, "venv", "--quiet", "--python", sys.executable, str(root)],
        [*uv, "pip", "install", "--quiet", "--offline", "--python", str(python),
         "-c", str(REPO / "requirements.lock"), f"{REPO}[operator]"],
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return python
