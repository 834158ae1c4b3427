"""Held-out splits keep near-duplicate reviews on one side; distinct reviews stay apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.errors import UserError
from training.splitting import group_split, near_duplicate_groups


@pytest.fixture(scope="module")
def reviews(imdb_sample: pd.DataFrame) -> pd.DataFrame:
    """400 distinct reviews plus 20 lightly edited re-posts of the first 20."""
    base = imdb_sample.iloc[:400].reset_index(drop=True)
    edited = base.iloc[:20].copy()
    edited["review"] = "EDIT: " + edited["review"].str.replace(".", "!", n=1, regex=False)
    return pd.concat([base, edited], ignore_index=True)


def test_edited_reposts_share_a_group_and_distinct_reviews_do_not(reviews):
    groups = near_duplicate_groups(reviews["review"])
    assert all(groups[i] == groups[400 + i] for i in range(20))
    assert len(set(groups[:400])) == 400  # the originals are all different reviews


def test_split_never_separates_a_group_and_is_stratified(reviews):
    for seed in range(5):
        _, test, grouped = group_split(reviews, 0.25, seed)
        assert grouped == 40
        for i in range(20):
            original, repost = reviews["review"].iloc[i], reviews["review"].iloc[400 + i]
            assert (original in set(test["review"])) == (repost in set(test["review"]))
        assert abs(len(test) - 0.25 * len(reviews)) <= 4
        shares = test["sentiment"].value_counts(normalize=True)
        assert abs(shares["positive"] - reviews["sentiment"].eq("positive").mean()) < 0.05


def test_too_few_reviews_is_a_user_error():
    tiny = pd.DataFrame(
        {"review": ["good film", "bad film"], "sentiment": ["positive", "negative"]}
    )
    with pytest.raises(UserError, match="has no"):
        group_split(tiny, 0.2, 0)


def test_groups_are_numbered_per_review(reviews):
    groups = near_duplicate_groups(reviews["review"].iloc[:50])
    assert groups.shape == (50,)
    assert np.issubdtype(groups.dtype, np.integer)
