"""DVC stage ``ingest``: load, validate, sample and split the labelled reviews.

Outputs ``data/train.parquet``, ``data/test.parquet`` and ``data/ingest.json``.
``SENTIMENT_DATA_SOURCE``, when set, replaces ``ingest.source`` (machines without a
network point it at a local copy).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from training.errors import UserError, run_command
from training.model import LABEL_COLUMN
from training.params import DEFAULT_PARAMS_PATH, IngestParams, load_params
from training.sources import file_sha256, load_source
from training.validation import validate_reviews

log = logging.getLogger(__name__)
SOURCE_OVERRIDE_ENV = "SENTIMENT_DATA_SOURCE"


def effective_source(params: IngestParams) -> str:
    """The data source in force: the environment override, else ``ingest.source``."""
    return os.environ.get(SOURCE_OVERRIDE_ENV) or params.source


def sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, stratified by label, reproducible from ``seed``."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    kept, _ = train_test_split(
        frame, train_size=max_rows, random_state=seed, stratify=frame[LABEL_COLUMN]
    )
    return kept.reset_index(drop=True)


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split."""
    try:
        train, test = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=frame[LABEL_COLUMN]
        )
    except ValueError as error:
        raise UserError(
            f"cannot split {len(frame)} reviews with test_size={test_size}: {error}"
        ) from error
    return train.reset_index(drop=True), test.reset_index(drop=True)


def ingest(params: IngestParams, out_dir: Path) -> dict[str, Any]:
    """Run the stage; returns the summary written to ``ingest.json``."""
    source = effective_source(params)
    raw, local_path = load_source(source, out_dir / "raw", params.download_timeout_seconds)
    clean = validate_reviews(raw, source=source, deduplicate=params.deduplicate)
    train, test = split(sample(clean, params.max_rows, params.seed), params.test_size, params.seed)
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
    }
    (out_dir / "ingest.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("ingested %d train / %d test reviews from %s", len(train), len(test), source)
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
