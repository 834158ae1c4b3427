"""Checks on labelled reviews; every failure names the problem and the fix."""

from __future__ import annotations

import logging

import pandas as pd

from training.errors import UserError
from training.model import CLASSES, LABEL_COLUMN, TEXT_COLUMN
from training.sources import SPLIT_COLUMN

log = logging.getLogger(__name__)
REQUIRED_COLUMNS = (TEXT_COLUMN, LABEL_COLUMN)
OPTIONAL_COLUMNS = (SPLIT_COLUMN,)
_SHOWN = 3


def _rows(index: pd.Index) -> str:
    # Row numbers as a user sees them in the file: 1-based, after the header line.
    numbers = [str(int(i) + 2) for i in index[:_SHOWN]]
    more = f" and {len(index) - _SHOWN} more" if len(index) > _SHOWN else ""
    return ", ".join(numbers) + more


def validate_reviews(raw: pd.DataFrame, *, source: str, deduplicate: bool) -> pd.DataFrame:
    """Return clean ``review,sentiment`` rows or raise ``UserError`` naming the first problem."""
    missing = [column for column in REQUIRED_COLUMNS if column not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns[:6])) or "none"
        raise UserError(
            f"{source} lacks column(s) {', '.join(missing)} (found: {found}): "
            "the CSV needs a header with columns review,sentiment"
        )
    # The Stanford archive's train/test half travels with each review.
    extra = [column for column in OPTIONAL_COLUMNS if column in raw.columns]
    frame = raw.loc[:, [*REQUIRED_COLUMNS, *extra]].copy()
    frame[LABEL_COLUMN] = frame[LABEL_COLUMN].astype(str).str.strip().str.lower()
    frame[TEXT_COLUMN] = frame[TEXT_COLUMN].astype(str)

    bad_labels = frame.index[~frame[LABEL_COLUMN].isin(CLASSES)]
    if len(bad_labels):
        values = sorted(set(frame.loc[bad_labels, LABEL_COLUMN]))[:_SHOWN]
        raise UserError(
            f"{source}: sentiment must be 'positive' or 'negative'; found {values} on row(s) "
            f"{_rows(bad_labels)}: relabel or remove those rows"
        )
    empty = frame.index[frame[TEXT_COLUMN].str.strip() == ""]
    if len(empty):
        raise UserError(f"{source}: empty review on row(s) {_rows(empty)}: remove those rows")

    conflicting = frame.groupby(TEXT_COLUMN)[LABEL_COLUMN].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        rows = frame.index[frame[TEXT_COLUMN].isin(conflicting.index)]
        raise UserError(
            f"{source}: the same review carries both labels on row(s) {_rows(rows)}: "
            "keep one label per review"
        )
    duplicated = frame.index[frame.duplicated(subset=list(REQUIRED_COLUMNS), keep="first")]
    if len(duplicated):
        if not deduplicate:
            raise UserError(
                f"{source}: {len(duplicated)} duplicate review(s), e.g. row(s) "
                f"{_rows(duplicated)}: remove them or set ingest.deduplicate: true"
            )
        log.info("dropped %d duplicate review(s) from %s", len(duplicated), source)
        frame = frame.drop(index=duplicated)

    counts = frame[LABEL_COLUMN].value_counts()
    if any(counts.get(label, 0) < 2 for label in CLASSES):
        raise UserError(
            f"{source}: need at least 2 reviews of each class, found {counts.to_dict()}"
        )
    return frame.reset_index(drop=True)
