"""Model card, tags and run name: provenance read from the pipeline's own records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from training.card import dvc_out_md5, git_commit, model_card, run_name, version_tags
from training.model import ModelParams
from training.params import IngestParams, Params, RegisterParams

PARAMS = Params(IngestParams(source="/data/train.csv.gz"), ModelParams(), RegisterParams())
METRICS = {"accuracy": 0.93, "roc_auc": 0.98, "test_rows": 5000}
INGEST = {
    "source": "/data/train.csv.gz",
    "source_sha256": "ab" * 32,
    "rows_read": 25000,
    "rows_valid": 24904,
    "train_rows": 19923,
    "test_rows": 4981,
    "evaluation": "held-out share of the CSV, near-duplicate reviews kept on one side",
    "final_fit_splits": ["train", "test"],
}


def write_lock(repo: Path) -> None:
    lock = {
        "stages": {
            "train": {"outs": [{"path": "models/sentiment", "md5": "0123abcd.dir"}]},
            "ingest": {"outs": [{"path": "data/train.parquet", "md5": "feed"}]},
        }
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))


def test_tags_name_data_code_and_metrics(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "add", "f"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
        cwd=tmp_path,
        check=True,
    )
    write_lock(tmp_path)
    tags = version_tags(PARAMS, METRICS, INGEST, tmp_path)
    assert tags["data.sha256"] == "ab" * 32
    assert tags["dvc.model_md5"] == "0123abcd.dir"
    assert tags["dvc.train_data_md5"] == "feed"
    assert len(tags["git.commit"]) == 40  # clean tree: the bare commit
    assert tags["metric.accuracy"] == "0.93"
    (tmp_path / "f").write_text("changed")
    assert git_commit(tmp_path).endswith("+dirty")


def test_unknown_provenance_says_so(tmp_path):
    assert git_commit(tmp_path) == "unknown"
    assert dvc_out_md5(tmp_path / "dvc.lock", "train", "models/sentiment") == "unknown"


def test_card_says_what_how_and_how_well():
    tags = {"git.commit": "abc", "metric.accuracy": "0.93"}
    card = model_card(PARAMS, METRICS, INGEST, tags)
    for heading in ("## Data", "## Model", "## Metrics", "## How it was evaluated"):
        assert heading in card
    assert "| accuracy | 0.93 |" in card
    assert "near-duplicate" in card
    assert "trained on every review" in card  # a CSV: the figure is from the train split's fit
    assert "git.commit: `abc`" in card
    stanford = {**INGEST, "final_fit_splits": ["train"], "evaluation": "official test half"}
    assert "trained on every review" not in model_card(PARAMS, METRICS, stanford, tags)


def test_run_is_named_after_the_model_and_data():
    name = run_name(PARAMS, INGEST)
    assert name == "word 1-4-gram TF-IDF NB logreg C=40 on train.csv.gz (24904 reviews)"
