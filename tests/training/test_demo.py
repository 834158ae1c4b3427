"""``make demo`` hands its data source to DVC as a param, never as a hidden variable."""

from __future__ import annotations

import shutil

import pytest

from training.demo import set_source
from training.errors import UserError
from training.params import load_params


def test_source_is_written_to_params_keeping_the_rest(repo_root, tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(repo_root / "params.yaml", path)
    before = load_params(path)
    set_source("/data/my reviews.csv", path)
    after = load_params(path)
    assert after.ingest.source == "/data/my reviews.csv"
    assert (after.train, after.register) == (before.train, before.register)
    assert "# Every tunable of the pipeline." in path.read_text()  # comments kept
    text = path.read_text()
    set_source("/data/my reviews.csv", path)  # already set: untouched
    assert path.read_text() == text


def test_params_without_a_source_line_are_a_user_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ingest: {source: a.csv}\n")
    with pytest.raises(UserError, match="edit it by hand"):
        set_source("b.csv", path)
