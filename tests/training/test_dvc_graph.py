"""``dvc.yaml`` is the whole graph: every stage lists the project modules it imports, no more."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


def project_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """Files of ``training`` modules that ``module`` imports, directly or not, anywhere in it."""
    seen = set() if seen is None else seen
    path = REPO_ROOT / (module.replace(".", "/") + ".py")
    if str(path) in seen:
        return seen
    seen.add(str(path))
    seen.add(str(REPO_ROOT / "training/__init__.py"))
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if (
                name.startswith("training.")
                and (REPO_ROOT / f"{name.replace('.', '/')}.py").is_file()
            ):
                project_imports(name, seen)
    return seen


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_are_exactly_its_imported_modules(stage: str):
    command = STAGES[stage]["cmd"].split()
    module = command[command.index("-m") + 1]
    imported = {str(Path(path).relative_to(REPO_ROOT)) for path in project_imports(module)}
    listed = {dep for dep in STAGES[stage]["deps"] if dep.startswith("training/")}
    assert listed == imported


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_path_on_the_command_is_a_dep_or_an_out(stage: str):
    definition = STAGES[stage]
    declared = set(definition.get("deps", [])) | {"params.yaml"}
    for section in ("outs", "metrics", "plots"):
        for entry in definition.get(section, []):
            declared.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    words = definition["cmd"].split()
    paths = [words[i + 1] for i, word in enumerate(words) if word.startswith("--")]
    for path in paths:
        assert any(item == path or item.startswith(f"{path}/") for item in declared), path


def test_the_data_source_is_a_param_of_ingest():
    assert "ingest" in STAGES["ingest"]["params"]
    sources = (REPO_ROOT / "training").glob("*.py")
    assert not any("SENTIMENT_DATA_SOURCE" in path.read_text() for path in sources)
