"""The sentiment model: one scikit-learn Pipeline from raw review text to class.

The Pipeline is built only from scikit-learn's own classes, so MLflow's default
skops serialisation loads it without trusting any project code.

Features are word and character n-gram TF-IDF, re-weighted by the Naive Bayes
log-count ratio (Wang & Manning, 2012: "NBSVM"). The ratio is learnt from the
training split and stored as the ``idf_`` of a ``TfidfTransformer`` placed after
the vectorisers: that transformer multiplies each feature by its weight, which
is all the NB re-weighting needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

TEXT_COLUMN = "review"
LABEL_COLUMN = "sentiment"
CLASSES = ("negative", "positive")
# Single-letter words and "!"/"?" carry sentiment that the default pattern drops.
WORD_PATTERN = r"(?u)\b\w+\b|[!?]"


@dataclass(frozen=True)
class ModelParams:
    """Tunables of the vectorisers and the classifier (``params.yaml: train``)."""

    word_ngram_max: int = 3
    word_min_df: int = 2
    word_max_features: int | None = 800_000
    char_ngram_min: int = 2
    char_ngram_max: int = 5
    char_max_features: int | None = 300_000
    use_char_ngrams: bool = True
    nb_weighting: bool = True
    nb_alpha: float = 1.0
    classifier_c: float = 20.0
    max_iter: int = 1000


def _vectorizers(params: ModelParams) -> FeatureUnion:
    parts: list[tuple[str, TfidfVectorizer]] = [
        (
            "word",
            TfidfVectorizer(
                ngram_range=(1, params.word_ngram_max),
                min_df=params.word_min_df,
                max_features=params.word_max_features,
                sublinear_tf=True,
                strip_accents="unicode",
                token_pattern=WORD_PATTERN,
                dtype=np.float32,
            ),
        )
    ]
    if params.use_char_ngrams:
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(params.char_ngram_min, params.char_ngram_max),
                    min_df=params.word_min_df,
                    max_features=params.char_max_features,
                    sublinear_tf=True,
                    strip_accents="unicode",
                    dtype=np.float32,
                ),
            )
        )
    return FeatureUnion(parts)


def nb_log_count_ratio(
    features: sp.csr_matrix, is_positive: np.ndarray, alpha: float
) -> np.ndarray:
    """Absolute Naive Bayes log-count ratio per feature, over binarised occurrences.

    Only the magnitude matters: a linear classifier absorbs the sign into its
    weight, and L2 regularisation is symmetric in it.
    """
    occurs = (features > 0).astype(np.float32)
    positive = np.asarray(occurs[is_positive].sum(axis=0)).ravel() + alpha
    negative = np.asarray(occurs[~is_positive].sum(axis=0)).ravel() + alpha
    ratio: np.ndarray = np.abs(np.log((positive / positive.sum()) / (negative / negative.sum())))
    return ratio + 1e-3


def train_pipeline(texts: pd.Series, labels: pd.Series, params: ModelParams) -> Pipeline:
    """Fit the whole Pipeline on review texts and their ``positive``/``negative`` labels."""
    frame = pd.DataFrame({TEXT_COLUMN: texts.astype(str)})
    text_features = ColumnTransformer([("text", _vectorizers(params), TEXT_COLUMN)])
    features = text_features.fit_transform(frame)
    weighting = TfidfTransformer(norm=None, use_idf=True, smooth_idf=False, sublinear_tf=False)
    weighting.fit(features)
    if params.nb_weighting:
        is_positive = labels.to_numpy() == CLASSES[1]
        weighting.idf_ = nb_log_count_ratio(sp.csr_matrix(features), is_positive, params.nb_alpha)
    else:
        weighting.idf_ = np.ones(features.shape[1])
    weighted = weighting.transform(features)
    classifier = LogisticRegression(
        C=params.classifier_c, max_iter=params.max_iter, solver="liblinear"
    )
    classifier.fit(weighted, labels.to_numpy())
    return Pipeline(
        [("features", text_features), ("nb_weighting", weighting), ("classifier", classifier)]
    )
