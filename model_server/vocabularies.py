"""Rebuild a vectorizer's term-to-column dict from its vocabulary array, quickly.

The project saves a learnt vocabulary as the numpy array given to the vectorizer
(``training.model.compact_vocabulary``), and scikit-learn rebuilds the fitted dict
from it on first use, one ``np.str_`` at a time: 0.3-0.4 s of the server's start for
250,000 terms, paid by the load-time proof and the warm-up. Building the same dict
from the array's ``tolist()`` takes a tenth of that. The result is what scikit-learn
would set (``vocabulary_``, ``fixed_vocabulary_``); anything it would refuse (a
repeated or empty vocabulary) is left to it, so its own error still reports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def vectorizers(estimator: Any) -> Iterator[Any]:
    """The count vectorizers (``TfidfVectorizer`` included) inside a fitted ``estimator``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(estimator, CountVectorizer):
        yield estimator
    elif isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            yield from vectorizers(step)
    elif isinstance(estimator, ColumnTransformer):
        fitted = getattr(estimator, "transformers_", estimator.transformers)
        for _, step, _ in fitted:
            yield from vectorizers(step)
    elif isinstance(estimator, FeatureUnion):
        for _, step in estimator.transformer_list:
            yield from vectorizers(step)


def restore_vocabulary(vectorizer: Any) -> bool:
    """Set the dict scikit-learn would build from the ``vocabulary`` array; whether it did."""
    if hasattr(vectorizer, "vocabulary_"):
        return False
    source = vectorizer.vocabulary
    if not isinstance(source, np.ndarray) or source.ndim != 1 or source.dtype.kind != "U":
        return False
    terms: list[str] = source.tolist()
    mapping = dict(zip(terms, range(len(terms)), strict=True))
    if not mapping or len(mapping) != len(terms):
        return False
    vectorizer.vocabulary_ = mapping
    vectorizer.fixed_vocabulary_ = True
    return True


def restore_vocabularies(estimator: Any) -> int:
    """``restore_vocabulary`` on every vectorizer in ``estimator``; how many it set."""
    return sum(restore_vocabulary(vectorizer) for vectorizer in vectorizers(estimator))
