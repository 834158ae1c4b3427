"""DVC stage ``ingest``: load, validate, sample and split the labelled reviews.

Outputs ``data/train.parquet``, ``data/test.parquet`` and ``data/ingest.json``. The
Stanford archive keeps its own halves (train on train, score on test); a single CSV
is split with near-duplicate reviews kept on one side (``training.splitting``).
``ingest.json`` records which, and which splits the registered model may train on.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from training.errors import UserError, run_command
from training.model import LABEL_COLUMN
from training.params import DEFAULT_PARAMS_PATH, IngestParams, load_params
from training.sources import SPLIT_COLUMN, file_sha256, load_source
from training.splitting import group_split
from training.validation import validate_reviews

log = logging.getLogger(__name__)
#: ``ingest.json: evaluation`` values.
OFFICIAL_SPLIT = "official test half of the Stanford archive"
GROUPED_HOLDOUT = "held-out share of the CSV, near-duplicate reviews kept on one side"


def sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, stratified by label, reproducible from ``seed``."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    from sklearn.model_selection import train_test_split  # here: seconds to import

    kept, _ = train_test_split(
        frame, train_size=max_rows, random_state=seed, stratify=frame[LABEL_COLUMN]
    )
    return kept.reset_index(drop=True)


def official_halves(
    frame: pd.DataFrame, max_rows: int | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The archive's own train and test halves; ``max_rows`` caps both together."""
    halves = []
    for name in ("train", "test"):
        half = frame[frame[SPLIT_COLUMN] == name].drop(columns=SPLIT_COLUMN)
        cap = None if max_rows is None else max(2, round(max_rows * len(half) / len(frame)))
        halves.append(sample(half.reset_index(drop=True), cap, seed))
    train, test = halves
    if train.empty or test.empty:
        raise UserError("the archive lacks a train or a test half: use the whole aclImdb_v1.tar.gz")
    return train, test


def ingest(params: IngestParams, out_dir: Path) -> dict[str, Any]:
    """Run the stage; returns the summary written to ``ingest.json``."""
    source = params.source
    raw, local_path = load_source(source, out_dir / "raw", params.download_timeout_seconds)
    clean = validate_reviews(raw, source=source, deduplicate=params.deduplicate)
    grouped = 0
    if SPLIT_COLUMN in clean.columns:
        train, test = official_halves(clean, params.max_rows, params.seed)
        evaluation, final_fit = OFFICIAL_SPLIT, ["train"]
    else:
        reviews = sample(clean, params.max_rows, params.seed)
        train, test, grouped = group_split(reviews, params.test_size, params.seed)
        evaluation, final_fit = GROUPED_HOLDOUT, ["train", "test"]
    out_dir.mkdir(parents=True, exist_ok=True)
    train.to_parquet(out_dir / "train.parquet", index=False)
    test.to_parquet(out_dir / "test.parquet", index=False)
    summary: dict[str, Any] = {
        "source": source,
        "source_sha256": file_sha256(local_path),
        "rows_read": len(raw),
        "rows_valid": len(clean),
        "train_rows": len(train),
        "test_rows": len(test),
        "near_duplicates_grouped": grouped,
        "evaluation": evaluation,
        # The registered model trains on these; the Stanford test half never.
        "final_fit_splits": final_fit,
    }
    (out_dir / "ingest.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("ingested %d train / %d test reviews (%s)", len(train), len(test), evaluation)
    return summary


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.ingest", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    ingest(load_params(args.params).ingest, args.out)


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
