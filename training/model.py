"""The sentiment model: one scikit-learn Pipeline from raw review text to class.

Word 1..n-gram counts over a learned vocabulary (``CountVectorizer``: the n-grams seen
in at least ``min_df`` training reviews, each its own column) or hashed into a fixed
number of columns (``HashingVectorizer``, ``train.hashing``), and optionally hashed
character n-grams inside word boundaries, side by side in one ``ColumnTransformer``,
turned into sublinear TF-IDF over the n-grams seen in at least ``min_df`` training
reviews, re-weighted per feature by the Naive Bayes log-count ratio (Wang & Manning,
2012, "NBSVM") and classified by logistic regression.

The vocabulary is kept as the vectorizer's ``vocabulary`` parameter, one numpy string
array, and its ``vocabulary_`` dict is dropped before saving (``CountVectorizer``
rebuilds it from the array on first use): skops stores a dict entry by entry, a
vocabulary of 300,000 n-grams in 130 MB, the array in 30 MB.

Everything learnt is a numpy array inside scikit-learn's own classes: the IDF and
the NB ratio are the ``idf_`` of two ``TfidfTransformer`` steps (one multiplies
each feature by its weight, which is all NB re-weighting needs). So MLflow's
default skops format saves and loads the model quickly and without trusting any
project code, and the server's compiled linear scorer can fold it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training import ngrams
from training.errors import UserError
from training.parallel import transform_rows

if TYPE_CHECKING:  # scikit-learn is imported where it is used: ingest and register never do
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)
TEXT_COLUMN = "review"
LABEL_COLUMN = "sentiment"
CLASSES = ("negative", "positive")
# Single-letter words and "!"/"?" carry sentiment that the default pattern drops.
WORD_PATTERN = r"(?u)\b\w+\b|[!?]"


@dataclass(frozen=True)
class ModelParams:
    """Tunables of the features and the classifier (``params.yaml: train``)."""

    ngram_max: int = 4
    hashing: bool = False
    max_term_chars: int = 24
    hash_bits: int = 22
    char_ngram_min: int = 2
    char_ngram_max: int = 0
    char_hash_bits: int = 20
    min_df: int = 5
    nb_weighting: bool = True
    nb_alpha: float = 1.0
    classifier_c: float = 40.0
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.ngram_max <= 5:
            raise ValueError(f"train.ngram_max must be 1..5, got {self.ngram_max}")
        if not (10 <= self.hash_bits <= 24 and 10 <= self.char_hash_bits <= 24):
            raise ValueError("train.hash_bits and train.char_hash_bits must be 10..24")
        if self.char_ngram_max and not 1 <= self.char_ngram_min <= self.char_ngram_max <= 8:
            raise ValueError(
                "train.char_ngram_min..char_ngram_max must be a range within 1..8 "
                "(char_ngram_max 0: no character n-grams)"
            )
        if not 1 <= self.max_term_chars <= 200:
            raise ValueError(f"train.max_term_chars must be 1..200, got {self.max_term_chars}")
        if self.min_df < 1 or self.classifier_c <= 0 or self.nb_alpha <= 0:
            raise ValueError("train.min_df must be >= 1, classifier_c and nb_alpha > 0")

    def describe(self) -> str:
        """One line naming the model, e.g. for an MLflow run."""
        features = f"{'hashed ' if self.hashing else ''}word 1-{self.ngram_max}"
        if self.char_ngram_max:
            features += f" + char {self.char_ngram_min}-{self.char_ngram_max}"
        weighting = " NB" if self.nb_weighting else ""
        return f"{features}-gram TF-IDF{weighting} logreg C={self.classifier_c:g}"


@contextmanager
def progress(step: str, reviews: int) -> Iterator[None]:
    """Log a step of the fit with its duration."""
    started = time.perf_counter()
    log.info("%s: %d reviews...", step, reviews)
    yield
    log.info("%s: done in %.1fs", step, time.perf_counter() - started)


def word_vectorizer(params: ModelParams, vocabulary: np.ndarray | None = None) -> CountVectorizer:
    """Word n-gram counts over ``vocabulary`` (the column order), as the model tokenises."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        ngram_range=(1, params.ngram_max),
        vocabulary=vocabulary,
        strip_accents="unicode",
        token_pattern=WORD_PATTERN,
        dtype=np.float32,
    )


def learn_vocabulary(texts: pd.Series, params: ModelParams) -> tuple[np.ndarray, sp.csr_matrix]:
    """The sorted word n-grams of at most ``max_term_chars`` characters in ``min_df`` texts,
    and the texts' counts over them, in one pass (``training/ngrams.py``)."""
    vectorizer = word_vectorizer(params)
    tokens = ngrams.tokenize(vectorizer, texts.astype(str))
    vocabulary, counts = ngrams.learn(
        tokens, vectorizer.ngram_range, params.min_df, params.max_term_chars, vectorizer.dtype
    )
    if not len(vocabulary):
        raise UserError(
            f"no word n-gram is in {params.min_df} of the {len(texts)} training reviews: "
            "lower train.min_df or train on more reviews"
        )
    return vocabulary, counts


def hashed_counts(params: ModelParams, vocabulary: np.ndarray | None = None) -> ColumnTransformer:
    """Raw text column -> word (and hashed character) n-gram counts, side by side.

    The words are hashed when ``params.hashing``, else counted over ``vocabulary``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import HashingVectorizer

    words: CountVectorizer | HashingVectorizer
    if params.hashing:
        words = HashingVectorizer(
            ngram_range=(1, params.ngram_max),
            n_features=2**params.hash_bits,
            alternate_sign=False,
            norm=None,
            strip_accents="unicode",
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        )
    elif vocabulary is None:
        raise ValueError("word counts over a vocabulary need the vocabulary")
    else:
        words = word_vectorizer(params, vocabulary)
    blocks: list[tuple[str, CountVectorizer | HashingVectorizer, str]] = [
        ("words", words, TEXT_COLUMN)
    ]
    if params.char_ngram_max:
        chars = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(params.char_ngram_min, params.char_ngram_max),
            n_features=2**params.char_hash_bits,
            alternate_sign=False,
            norm=None,
            strip_accents="unicode",
            dtype=np.float32,
        )
        blocks.append(("chars", chars, TEXT_COLUMN))
    return ColumnTransformer(blocks)


def compact_vocabulary(pipeline: Pipeline) -> None:
    """Keep a learnt word vocabulary once, as the numpy array given to the vectorizer.

    The fitted vectorizer's ``vocabulary_`` dict, which it rebuilds from the array on
    first use, is dropped, and the unfitted template shares the fitted one's array:
    call it before saving (skops would store the dict entry by entry).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    counts = pipeline.named_steps.get("counts")
    if not isinstance(counts, ColumnTransformer) or not hasattr(counts, "transformers_"):
        return
    fitted = counts.named_transformers_.get("words")
    if not isinstance(fitted, CountVectorizer) or not isinstance(fitted.vocabulary, np.ndarray):
        return
    if hasattr(fitted, "vocabulary_"):
        del fitted.vocabulary_
    counts.transformers = [
        (name, fitted if name == "words" else step, column)
        for name, step, column in counts.transformers
    ]


def nb_log_count_ratio(occurs: sp.csr_matrix, is_positive: np.ndarray, alpha: float) -> np.ndarray:
    """Absolute Naive Bayes log-count ratio per feature, over binary occurrences.

    Only the magnitude matters: a linear classifier absorbs the sign into its
    weight, and L2 regularisation is symmetric in it.
    """
    positive = np.asarray(occurs[is_positive].sum(axis=0)).ravel() + alpha
    negative = np.asarray(occurs[~is_positive].sum(axis=0)).ravel() + alpha
    ratio = np.abs(np.log((positive / positive.sum()) / (negative / negative.sum())))
    weights: np.ndarray = (ratio + 1e-3).astype(np.float32)
    return weights


def train_pipeline(texts: pd.Series, labels: pd.Series, params: ModelParams) -> Pipeline:
    """Fit the whole Pipeline on review texts and their ``positive``/``negative`` labels."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    reviews = len(texts)
    with progress("vectorise", reviews):
        frame = pd.DataFrame({TEXT_COLUMN: texts})
        vocabulary, counts = (None, None) if params.hashing else learn_vocabulary(texts, params)
        counts_step = hashed_counts(params, vocabulary)
        # Hashing and a given vocabulary learn nothing more: fitting on two rows checks
        # the column, and the transform runs on every core.
        counts_step.fit(frame.iloc[:2])
        if counts is None or params.char_ngram_max:
            counts = transform_rows(counts_step, frame)
    with progress("weight", reviews):
        occurs = counts.copy()
        occurs.data[:] = 1.0
        document_frequency = np.asarray(occurs.sum(axis=0)).ravel()
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        # A zero IDF drops the n-grams too rare to trust, as min_df would with a vocabulary.
        tfidf.idf_ = (tfidf.idf_ * (document_frequency >= params.min_df)).astype(np.float32)
        nb_weighting = TfidfTransformer(norm=None, use_idf=True).fit(counts[:1])
        is_positive = labels.to_numpy() == CLASSES[1]
        nb_weighting.idf_ = (
            nb_log_count_ratio(occurs, is_positive, params.nb_alpha)
            if params.nb_weighting
            else np.ones(counts.shape[1], dtype=np.float32)
        )
        features = nb_weighting.transform(tfidf.transform(counts))
    with progress("fit", reviews):
        # The dual problem: far fewer reviews than hashed columns, so 5x faster, same model.
        classifier = LogisticRegression(
            C=params.classifier_c, max_iter=params.max_iter, solver="liblinear", dual=True
        )
        classifier.fit(features, labels.to_numpy())
        classifier.coef_ = classifier.coef_.astype(np.float32)  # half the size, same decisions
    pipeline = Pipeline(
        [
            ("counts", counts_step),
            ("tfidf", tfidf),
            ("nb_weighting", nb_weighting),
            ("classifier", classifier),
        ]
    )
    compact_vocabulary(pipeline)
    return pipeline
