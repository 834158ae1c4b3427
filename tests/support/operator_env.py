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
    process (uv: seconds). Offline from the cache first: inside the cluster's network
    namespace no index is reachable. On a fresh machine that cache cannot resolve the
    extra yet (uv's ``pip sync`` keeps no metadata to resolve from), so it is made online
    then, which ``start_cluster`` does before the session enters the namespace."""
    root = Path(tempfile.mkdtemp(prefix="operator-env-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    uv = [sys.executable, "-m", "uv"]
    python = root / "bin" / "python"
    _run([*uv, "venv", "--quiet", "--python", sys.executable, str(root)])
    install = [*uv, "pip", "install", "--quiet", "--python", str(python),
               "-c", str(REPO / "requirements.lock"), f"{REPO}[operator]"]  # fmt: skip
    offline = subprocess.run([*install, "--offline"], capture_output=True, text=True, check=False)
    if offline.returncode != 0:
        _run(install, also=offline.stderr.strip())
    return python


def _run(command: list[str], also: str = "") -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        before = f" (offline first: {also})" if also else ""
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}{before}")
