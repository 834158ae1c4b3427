"""The model card and tags of a registered version: what it learnt from, what it is, how good.

Everything here comes from the pipeline's own records (``params.yaml``,
``data/ingest.json``, ``reports/metrics.json``, ``dvc.lock``) and git, so the
registry says exactly which data and code produced a version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from training.params import Params

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc")
MAX_TAG_CHARS = 250


def git_commit(repo: Path) -> str:
    """``HEAD`` of the repository, ``+dirty`` when the work tree has changes; or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if status else head


def dvc_out_md5(lock_path: Path, stage: str, out: str) -> str:
    """The hash ``dvc.lock`` records for output ``out`` of ``stage``; or ``unknown``."""
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        outs = lock["stages"][stage]["outs"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "unknown"
    for entry in outs:
        if entry.get("path") == out:
            return str(entry.get("md5", "unknown"))
    return "unknown"


def version_tags(
    params: Params, metrics: dict[str, Any], ingest: dict[str, Any], repo: Path
) -> dict[str, str]:
    """Tags of the run and of the registered version."""
    tags = {
        "data.source": str(ingest.get("source", "unknown"))[:MAX_TAG_CHARS],
        "data.sha256": str(ingest.get("source_sha256", "unknown")),
        "data.train_rows": str(ingest.get("train_rows")),
        "data.test_rows": str(ingest.get("test_rows")),
        "dvc.model_md5": dvc_out_md5(repo / "dvc.lock", "train", "models/sentiment"),
        "dvc.train_data_md5": dvc_out_md5(repo / "dvc.lock", "ingest", "data/train.parquet"),
        "git.commit": git_commit(repo),
        "evaluation": str(ingest.get("evaluation", "unknown")),
        "model": params.train.describe(),
    }
    baseline = os.environ.get("DVC_EXP_BASELINE_REV")
    if baseline:
        tags["dvc.experiment_baseline"] = baseline
    for name in METRIC_NAMES:
        if name in metrics:
            tags[f"metric.{name}"] = str(metrics[name])
    return tags


def run_name(params: Params, ingest: dict[str, Any]) -> str:
    """What the run is: the model and the data it learnt from."""
    source = Path(str(ingest.get("source", "data"))).name
    rows = sum(
        int(ingest.get(f"{split}_rows", 0)) for split in ingest.get("final_fit_splits", ["train"])
    )
    return f"{params.train.describe()} on {source} ({rows} reviews)"


def model_card(
    params: Params, metrics: dict[str, Any], ingest: dict[str, Any], tags: dict[str, str]
) -> str:
    """A Markdown model card: data, model, metrics and how they were measured."""
    splits = " + ".join(ingest.get("final_fit_splits", ["train"]))
    train = params.train
    lines = [
        f"# {params.register.model_name}",
        "",
        "Movie-review sentiment (`positive`/`negative`) from raw English review text.",
        "Input: a DataFrame with one string column `review`; `predict` gives the label,",
        "`predict_proba` the probabilities of [negative, positive].",
        "",
        "## Data",
        f"- source: `{ingest.get('source')}` (sha256 `{ingest.get('source_sha256')}`)",
        f"- reviews: {ingest.get('rows_valid')} valid of {ingest.get('rows_read')} read; "
        f"train split {ingest.get('train_rows')}, held-out split {ingest.get('test_rows')}",
        f"- this version was trained on: {splits}",
        "",
        "## Model",
        f"- {train.describe()}",
        "- one scikit-learn Pipeline: n-gram counts (ColumnTransformer of "
        f"{'HashingVectorizer' if train.hashing else 'CountVectorizer'}) -> TfidfTransformer "
        f"(sublinear TF-IDF, n-grams in fewer than {train.min_df} reviews "
        f"{'zeroed' if train.hashing else 'left out'}) -> TfidfTransformer (Naive Bayes "
        "log-count ratio) -> LogisticRegression (liblinear)",
        (
            f"- word n-grams 1-{train.ngram_max} in 2**{train.hash_bits} columns"
            if train.hashing
            else f"- word n-grams 1-{train.ngram_max} of at most {train.max_term_chars} "
            "characters, one column each"
        )
        + (
            f"; character n-grams {train.char_ngram_min}-{train.char_ngram_max} in "
            f"2**{train.char_hash_bits} columns"
            if train.char_ngram_max
            else ""
        ),
        "",
        "## Metrics",
        "| metric | value |",
        "| --- | --- |",
        *(f"| {name} | {metrics[name]} |" for name in METRIC_NAMES if name in metrics),
        "",
        "## How it was evaluated",
        f"- {ingest.get('evaluation')}: {metrics.get('test_rows')} reviews",
    ]
    if "test" in ingest.get("final_fit_splits", []):
        lines.append(
            "- the figures come from the same Pipeline fitted on the train split alone; this "
            "version was then trained on every review. Reviews of one film can fall on both "
            "sides of a CSV split, so expect a test set of unseen films to score somewhat lower."
        )
    lines += [
        "",
        "## Provenance",
        *(f"- {key}: `{value}`" for key, value in tags.items() if not key.startswith("metric.")),
    ]
    return "\n".join(lines) + "\n"
