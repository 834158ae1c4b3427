"""Held-out splits that do not flatter: near-duplicate reviews stay on one side.

IMDB holds reviews posted twice with small edits, and reviews one author recycled for
several films. A random split puts one copy on each side and the model is scored on
text it has already seen. Two reviews are linked when at least ``MIN_SHARED_SHARE`` of
the word 8-grams of the shorter one are rare 8-grams (seen in 2..``MAX_SHINGLE_DF``
reviews) they share, and every linked group lands on the same side. Common phrases
("one of the worst movies I have ever seen") are too frequent to link anything, and
one shared sentence is too small a share of a review to make it a copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from training.errors import UserError
from training.model import CLASSES, LABEL_COLUMN, TEXT_COLUMN

SHINGLE_WORDS = 8
MAX_SHINGLE_DF = 5
MIN_SHARED_SHARE = 0.3
WORDS = r"(?u)\b\w+\b"


def near_duplicate_groups(texts: pd.Series) -> np.ndarray:
    """A group number per review; near-duplicates share one."""
    from sklearn.feature_extraction.text import HashingVectorizer  # here: seconds to import

    shingles = HashingVectorizer(
        ngram_range=(SHINGLE_WORDS, SHINGLE_WORDS),
        n_features=2**24,
        alternate_sign=False,
        norm=None,
        binary=True,
        token_pattern=WORDS,
        dtype=np.float32,
    )
    occurs = sp.csr_matrix(shingles.transform(texts.astype(str)))
    per_review = np.maximum(np.asarray(occurs.sum(axis=1)).ravel(), 1.0)
    document_frequency = np.asarray(occurs.sum(axis=0)).ravel()
    rare = np.flatnonzero((document_frequency >= 2) & (document_frequency <= MAX_SHINGLE_DF))
    kept = occurs[:, rare].tocsr()
    shared = (kept @ kept.T).tocoo()
    shorter = np.minimum(per_review[shared.row], per_review[shared.col])
    linked = shared.data >= MIN_SHARED_SHARE * shorter
    links = sp.coo_matrix(
        (np.ones(int(linked.sum())), (shared.row[linked], shared.col[linked])),
        shape=shared.shape,
    )
    _, groups = connected_components(links, directed=False)
    labels: np.ndarray = groups
    return labels


def group_split(
    frame: pd.DataFrame, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Stratified train/test split keeping near-duplicate groups together.

    Returns the two splits and how many reviews belong to a group of two or more.
    """
    groups = near_duplicate_groups(frame[TEXT_COLUMN])
    sizes = np.bincount(groups)
    grouped = int((sizes[groups] > 1).sum())
    # A group goes with the label of its first review (mixed groups are rare), and each
    # label's groups fill its share of the test split in a seeded random order.
    first = pd.Series(np.arange(len(frame))).groupby(groups).first().to_numpy()
    group_label = frame[LABEL_COLUMN].to_numpy()[first]
    rng = np.random.default_rng(seed)
    test_groups: list[np.ndarray] = []
    for label in CLASSES:
        candidates = rng.permutation(np.flatnonzero(group_label == label))
        target = test_size * sizes[candidates].sum()
        taken = np.cumsum(sizes[candidates]) <= round(target)
        test_groups.append(candidates[taken])
    is_test = np.isin(groups, np.concatenate(test_groups))
    train, test = frame[~is_test], frame[is_test]
    for name, part in (("train", train), ("test", test)):
        missing = set(CLASSES) - set(part[LABEL_COLUMN])
        if missing:
            raise UserError(
                f"the {name} split of {len(frame)} reviews (test_size={test_size}) has no "
                f"{', '.join(sorted(missing))} review: use more reviews or another test_size"
            )
    return train.reset_index(drop=True), test.reset_index(drop=True), grouped
