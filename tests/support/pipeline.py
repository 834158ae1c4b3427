"""The training pipeline as a user runs it: a fresh clone, edited params, ``dvc repro``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def git(cwd: Path, *args: str) -> str:
    """Run ``git`` in ``cwd``; its standard output."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def fresh_clone(repo_root: Path, target: Path) -> Path:
    """What a clone of this working tree would hold: tracked and unignored files."""
    files = git(repo_root, "ls-files", "--cached", "--others", "--exclude-standard").split("\n")
    for name in filter(None, files):
        if name == "dvc.lock":  # a local run's record, not part of a clone
            continue
        source = repo_root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    return target


def set_params(clone: Path, **sections: dict[str, object]) -> None:
    """Update sections of the clone's ``params.yaml``, as a user edits it."""
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params))


def dvc(clone: Path, tracking_uri: str, *args: str) -> str:
    """``dvc ARGS`` in the clone, tracking to ``tracking_uri``; its output (fails loudly)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": tracking_uri,
        "DVC_NO_ANALYTICS": "1",
    }
    env.pop("SENTIMENT_DATA_SOURCE", None)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dvc_repro(clone: Path, tracking_uri: str) -> str:
    """``dvc repro`` in the clone, tracking to ``tracking_uri``; its output (fails loudly)."""
    return dvc(clone, tracking_uri, "repro")


def ran(output: str) -> list[str]:
    """The stages a ``dvc repro`` output says it ran, in order."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]
