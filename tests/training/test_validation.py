"""Ingest refuses bad data with one line naming the problem and the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from training.errors import UserError
from training.validation import validate_reviews


def frame(rows: list[tuple[str, str]], columns: tuple[str, str] = ("review", "sentiment")):
    return pd.DataFrame(rows, columns=list(columns))


GOOD = [
    ("great film", "positive"),
    ("awful plot", "negative"),
    ("loved it", "Positive "),
    ("boring", "negative"),
]


def test_clean_rows_pass_and_labels_are_normalised():
    clean = validate_reviews(frame(GOOD), source="x.csv", deduplicate=False)
    assert list(clean.columns) == ["review", "sentiment"]
    assert clean["sentiment"].tolist() == ["positive", "negative", "positive", "negative"]


def test_extra_columns_are_dropped():
    raw = frame(GOOD).assign(id=range(4))
    assert list(validate_reviews(raw, source="x", deduplicate=False).columns) == [
        "review",
        "sentiment",
    ]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (frame(GOOD, ("text", "sentiment")), "lacks column(s) review"),
        (frame(GOOD, ("review", "label")), "lacks column(s) sentiment"),
        (frame([*GOOD, ("meh", "neutral")]), "found ['neutral'] on row(s) 6"),
        (frame([*GOOD, ("  ", "positive")]), "empty review on row(s) 6"),
        (frame([*GOOD, ("great film", "negative")]), "carries both labels"),
        (
            frame([("a", "positive"), ("b", "positive"), ("c", "negative")]),
            "at least 2 reviews of each class",
        ),
    ],
)
def test_bad_input_names_the_problem(raw, fragment):
    with pytest.raises(UserError) as caught:
        validate_reviews(raw, source="reviews.csv", deduplicate=True)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_duplicates_are_an_error_unless_deduplicating():
    raw = frame([*GOOD, ("boring", "negative")])
    with pytest.raises(UserError, match=r"1 duplicate review\(s\).*ingest.deduplicate: true"):
        validate_reviews(raw, source="x", deduplicate=False)
    assert len(validate_reviews(raw, source="x", deduplicate=True)) == len(GOOD)
