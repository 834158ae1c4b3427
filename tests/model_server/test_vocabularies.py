"""The vocabulary dict rebuilt at load equals the one scikit-learn builds, or is left to it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from model_server.vocabularies import restore_vocabularies, restore_vocabulary, vectorizers

TEXTS = [
    "a fine film , fine acting !",
    "the plot was thin and the acting was worse",
    "not good , not good at all ?",
    "fine fine fine",
]
TERMS = np.array(["fine", "acting", "not good", "the plot", "!", "good", "zzz"])


def fitted_with_array(kind: type = CountVectorizer, terms: np.ndarray = TERMS) -> CountVectorizer:
    """A vectorizer as the project saves it: the vocabulary array given, the dict dropped."""
    vectorizer = kind(vocabulary=terms, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[!?]")
    vectorizer.fit(TEXTS)
    del vectorizer.vocabulary_
    return vectorizer


def test_the_dict_is_the_one_scikit_learn_builds() -> None:
    ours, theirs = fitted_with_array(), fitted_with_array()
    assert restore_vocabulary(ours)
    theirs._validate_vocabulary()  # what scikit-learn does on first use
    assert ours.vocabulary_ == theirs.vocabulary_
    assert ours.fixed_vocabulary_ is True
    assert (ours.transform(TEXTS) != theirs.transform(TEXTS)).nnz == 0
    assert ours.transform(TEXTS).sum() > 0  # the texts do hit the vocabulary


def test_tfidf_vectorizers_are_restored_and_transform_alike() -> None:
    ours, theirs = fitted_with_array(TfidfVectorizer), fitted_with_array(TfidfVectorizer)
    assert restore_vocabulary(ours)
    expected = theirs.transform(TEXTS).toarray()
    np.testing.assert_array_equal(ours.transform(TEXTS).toarray(), expected)


def test_a_repeated_term_is_left_for_scikit_learn_to_refuse() -> None:
    vectorizer = CountVectorizer(vocabulary=np.array(["fine", "good", "fine"]))
    assert not restore_vocabulary(vectorizer)
    assert not hasattr(vectorizer, "vocabulary_")
    with pytest.raises(ValueError, match="Duplicate term in vocabulary"):
        vectorizer.transform(TEXTS)


@pytest.mark.parametrize(
    "vocabulary", [None, {"fine": 0, "good": 1}, ["fine", "good"], np.array([], dtype=str)]
)
def test_anything_but_a_non_empty_string_array_is_untouched(vocabulary: object) -> None:
    vectorizer = CountVectorizer(vocabulary=vocabulary)
    assert not restore_vocabulary(vectorizer)
    assert not hasattr(vectorizer, "vocabulary_")


def test_a_dict_already_there_is_kept() -> None:
    vectorizer = fitted_with_array()
    vectorizer.vocabulary_ = kept = {"fine": 0}
    assert not restore_vocabulary(vectorizer)
    assert vectorizer.vocabulary_ is kept


def test_every_vectorizer_of_a_pipeline_is_found_and_restored() -> None:
    words, tfidf, other = fitted_with_array(), fitted_with_array(TfidfVectorizer), CountVectorizer()
    columns = ColumnTransformer([("words", words, "review")])
    columns.transformers_ = [("words", words, "review")]  # as fitted
    union = FeatureUnion([("tfidf", tfidf), ("learnt", other)])
    classifier = LogisticRegression()
    pipeline = Pipeline([("counts", columns), ("union", union), ("classifier", classifier)])
    assert list(vectorizers(pipeline)) == [words, tfidf, other]
    assert restore_vocabularies(pipeline) == 2
    assert hasattr(words, "vocabulary_")
    assert hasattr(tfidf, "vocabulary_")
    assert not hasattr(other, "vocabulary_")
    assert restore_vocabularies(pipeline) == 0  # once restored, nothing left to do
