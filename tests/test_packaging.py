"""The distribution's shape: import names, console scripts, a consistent environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.operator_env import operator_python


def test_operator_folder_never_shadows_the_standard_library(repo_root: Path):
    # Run from the repository root, where the folder named operator/ sits on sys.path.
    result = subprocess.run(
        [sys.executable, "-c", "import operator, sklearn; print(operator.__file__)"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not result.stdout.strip().startswith(str(repo_root))
    assert Path(result.stdout.strip()).name == "operator.py"


@pytest.mark.parametrize(
    "module", ["sentiment_operator.cli", "training.ingest", "model_server.app"]
)
def test_packages_import_under_their_names(module: str):
    __import__(module)


@pytest.mark.parametrize(
    "script", ["sentiment-promote", "sentiment-demo", "sentiment-server", "sentiment-operator"]
)
def test_console_scripts_are_installed(script: str):
    assert (Path(sys.executable).parent / script).exists()


def test_installed_environment_is_consistent():
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_the_operator_image_environment_runs_without_a_kubernetes_client():
    # What `pip install ".[operator]"` gives the operator image: kopf would import the
    # official client (about 70 MiB) if it were there; the operator speaks HTTP itself.
    script = (
        "import importlib.util, sys\n"
        "import sentiment_operator.runner, sentiment_operator.handlers\n"
        "assert importlib.util.find_spec('kubernetes') is None, 'installed'\n"
        "assert importlib.util.find_spec('httpx') is not None, 'httpx missing'\n"
        "print(sorted(m for m in ('kubernetes', 'mlflow', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [str(operator_python()), "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
