"""The compiled scorer against the Pipeline's own predict_proba, on 3,000 real reviews."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import (
    CountVectorizer,
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MaxAbsScaler

from model_server.batching import MicroBatcher
from model_server.compiled import (
    TOLERANCE,
    NativeCounter,
    NotCompilableError,
    _analyzer,
    compile_pipeline,
    prove,
)
from model_server.loading import LoadedModel, ModelIdentity, proof_reviews, with_compiled_scorer
from model_server.state import SLICE, Direct, ModelSlot
from tests.conftest import IMDB_CSV
from training.model import WORD_PATTERN, ModelParams, train_pipeline

TEXT = "review"
TRAIN_ROWS = 600


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    """All 3,000 labelled reviews shipped with the tests."""
    return pd.read_csv(IMDB_CSV)


def _column(vectorizer: Any) -> ColumnTransformer:
    return ColumnTransformer([("text", vectorizer, TEXT)])


def _hashing(**options: Any) -> HashingVectorizer:
    return HashingVectorizer(n_features=2**16, alternate_sign=False, norm=None, **options)


VARIANTS: dict[str, Any] = {
    "count char_wb 2-4, tf-idf l2, lbfgs": lambda: Pipeline(
        [
            ("counts", _column(CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)))),
            ("tfidf", TfidfTransformer()),
            ("classifier", LogisticRegression(max_iter=300)),
        ]
    ),
    "tfidf vectorizer sublinear, no extra steps": lambda: Pipeline(
        [
            (
                "counts",
                _column(TfidfVectorizer(sublinear_tf=True, min_df=2, strip_accents="ascii")),
            ),
            ("classifier", LogisticRegression(max_iter=300)),
        ]
    ),
    "hashing signed + binary + l2 in the vectorizer, float64, SGD log loss": lambda: Pipeline(
        [
            (
                "counts",
                _column(
                    HashingVectorizer(
                        n_features=2**15, ngram_range=(1, 2), binary=True, lowercase=False
                    )
                ),
            ),
            ("classifier", SGDClassifier(loss="log_loss", random_state=0)),
        ]
    ),
    "feature union inside the column transformer, weights, l1": lambda: Pipeline(
        [
            (
                "counts",
                ColumnTransformer(
                    [
                        (
                            "text",
                            FeatureUnion(
                                [
                                    ("words", _hashing(token_pattern=WORD_PATTERN)),
                                    ("chars", _hashing(analyzer="char", ngram_range=(3, 5))),
                                ],
                                transformer_weights={"chars": 0.5},
                            ),
                            TEXT,
                        )
                    ]
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True, norm="l1")),
            ("classifier", LogisticRegression(C=10, solver="liblinear")),
        ]
    ),
    "word 2-3-grams only, hashed": lambda: Pipeline(
        [
            ("counts", _column(_hashing(ngram_range=(2, 3)))),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            ("classifier", LogisticRegression(max_iter=300)),
        ]
    ),
    "word 1-2-grams without English stop words (scikit-learn's analyzer)": lambda: Pipeline(
        [
            ("counts", _column(_hashing(ngram_range=(1, 2), stop_words="english"))),
            ("tfidf", TfidfTransformer()),
            ("classifier", LogisticRegression(max_iter=300)),
        ]
    ),
    "feature union of column transformers, two tf-idf steps": lambda: Pipeline(
        [
            (
                "counts",
                FeatureUnion(
                    [
                        ("words", _column(CountVectorizer(ngram_range=(1, 2), min_df=2))),
                        ("chars", _column(_hashing(analyzer="char_wb", ngram_range=(2, 3)))),
                    ]
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            ("scale", TfidfTransformer(norm=None)),
            ("classifier", LogisticRegression(max_iter=300)),
        ]
    ),
}


def _fit(pipeline: Pipeline, reviews: pd.DataFrame) -> Pipeline:
    train = reviews.iloc[:TRAIN_ROWS]
    return pipeline.fit(train[[TEXT]], train["sentiment"])


def _assert_same_answers(pipeline: Pipeline, texts: list[str]) -> None:
    scorer = compile_pipeline(pipeline, TEXT)
    expected = pipeline.predict_proba(pd.DataFrame({TEXT: texts}))[:, 1]
    got = np.asarray(scorer.positive_proba(texts))
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    assert prove(scorer, pipeline, TEXT, texts) <= TOLERANCE
    clear = np.abs(expected - 0.5) > TOLERANCE  # labels of exact ties may round either way
    assert ((got > 0.5) == (expected > 0.5))[clear].all()
    assert 0 < (got > 0.5).sum() < len(texts), "both classes should be predicted"


def test_the_project_pipeline_compiles_to_the_same_probabilities(reviews: pd.DataFrame) -> None:
    """The default model of training/model.py (a learnt word 1-4-gram vocabulary, sublinear
    TF-IDF, NB weights, liblinear), saved and loaded as MLflow's skops format does."""
    import skops.io

    train = reviews.iloc[:TRAIN_ROWS]
    pipeline = train_pipeline(train[TEXT], train["sentiment"], ModelParams())
    saved = skops.io.dumps(pipeline)
    assert skops.io.get_untrusted_types(data=saved) == []  # nothing to trust: sklearn's own
    loaded = skops.io.loads(saved)
    texts = [*reviews[TEXT].astype(str), *proof_reviews()]
    _assert_same_answers(loaded, texts)
    words = loaded.named_steps["counts"].named_transformers_["words"]
    scorer = compile_pipeline(loaded, TEXT)
    assert scorer.weights.shape == (len(words.vocabulary),)
    # Counted in C, and the rest in one C call: the fast path is what was proven.
    assert isinstance(scorer.blocks[0].count, NativeCounter)
    assert scorer.portable  # nothing of scikit-learn's: built and proven in another process
    assert scorer._fused is not None


@pytest.mark.parametrize(
    ("variant", "fused"),
    [
        ("tfidf vectorizer sublinear, no extra steps", True),
        ("word 2-3-grams only, hashed", True),
        ("feature union inside the column transformer, weights, l1", False),
        ("feature union of column transformers, two tf-idf steps", False),
    ],
)
def test_one_block_is_scored_in_one_call_and_several_through_numpy(
    variant: str, fused: bool, reviews: pd.DataFrame
) -> None:
    pipeline = _fit(VARIANTS[variant](), reviews)
    assert (compile_pipeline(pipeline, TEXT)._fused is not None) is fused
    _assert_same_answers(pipeline, [*reviews[TEXT].astype(str).iloc[::7], *proof_reviews()])


def test_the_hashed_project_pipeline_keeps_only_its_live_columns(reviews: pd.DataFrame) -> None:
    """The hashing option (``train.hashing``) of the same model."""
    train = reviews.iloc[:TRAIN_ROWS]
    params = ModelParams(ngram_max=3, hashing=True, hash_bits=18)
    pipeline = train_pipeline(train[TEXT], train["sentiment"], params)
    texts = [*reviews[TEXT].astype(str), *proof_reviews()]
    _assert_same_answers(pipeline, texts)
    # N-grams in fewer than min_df reviews have a zero IDF: the scorer keeps only the others.
    scorer = compile_pipeline(pipeline, TEXT)
    idf = pipeline.named_steps["tfidf"].idf_
    assert scorer.columns is not None
    assert scorer.columns.tolist() == np.flatnonzero(idf).tolist()
    assert len(scorer.weights) == np.count_nonzero(idf) < 2**18 / 2
    assert scorer.portable  # hashed by mmh3 after the built-in preprocessing and pattern


def test_character_ngrams_are_scored_in_process_only(reviews: pd.DataFrame) -> None:
    """Their analyzer is scikit-learn's own: compiled and proven, but not portable."""
    train = reviews.iloc[:TRAIN_ROWS]
    params = ModelParams(ngram_max=2, char_ngram_max=3, char_hash_bits=14)
    pipeline = train_pipeline(train[TEXT], train["sentiment"], params)
    _assert_same_answers(pipeline, [*reviews[TEXT].astype(str).iloc[::5], *proof_reviews()])
    assert not compile_pipeline(pipeline, TEXT).portable


@pytest.mark.parametrize("given_as", ["dict", "array"])
@pytest.mark.parametrize("keep_fitted_dict", [True, False])
def test_a_given_vocabulary_is_read_in_its_own_column_order(
    given_as: str, keep_fitted_dict: bool, reviews: pd.DataFrame
) -> None:
    """Terms and columns come from the fitted dict, or else from ``vocabulary`` itself: a
    dict with its own column order, or an array whose order is the columns'."""
    terms = CountVectorizer(min_df=3).fit(reviews[TEXT].iloc[:TRAIN_ROWS]).get_feature_names_out()
    columns = np.random.default_rng(0).permutation(len(terms)).tolist()
    given = dict(zip(map(str, terms), columns, strict=True))  # in term order, not column order
    by_column = np.asarray(sorted(given, key=given.__getitem__))
    vocabulary = given if given_as == "dict" else by_column
    pipeline = _fit(
        Pipeline(
            [
                ("counts", _column(CountVectorizer(vocabulary=vocabulary))),
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
                ("classifier", LogisticRegression(max_iter=300)),
            ]
        ),
        reviews,
    )
    vectorizer = pipeline.named_steps["counts"].named_transformers_["text"]
    assert vectorizer.vocabulary_ == given
    if not keep_fitted_dict:
        del vectorizer.vocabulary_  # as the project saves it
    scorer = compile_pipeline(pipeline, TEXT)
    assert scorer.weights.shape == (len(terms),)
    _assert_same_answers(pipeline, [*reviews[TEXT].astype(str).iloc[::5], *proof_reviews()])


def test_a_vocabulary_with_a_term_twice_is_refused() -> None:
    """scikit-learn refuses it when it first transforms; the compiler before proving."""
    pipeline = _fit_tiny(CountVectorizer(vocabulary=["good", "bad", "plot"]))
    vectorizer = pipeline.named_steps["counts"].named_transformers_["text"]
    del vectorizer.vocabulary_
    vectorizer.vocabulary = np.asarray(["good", "bad", "good"])
    with pytest.raises(NotCompilableError, match=r"shares? a key"):
        compile_pipeline(pipeline, TEXT)


def _fit_tiny(vectorizer: Any) -> Pipeline:
    texts = pd.DataFrame({TEXT: ["good plot", "bad plot", "good good", "bad bad plot"]})
    pipeline = Pipeline([("counts", _column(vectorizer)), ("classifier", LogisticRegression())])
    return pipeline.fit(texts, ["positive", "negative", "positive", "negative"])


@pytest.mark.parametrize("make", list(VARIANTS.values()), ids=list(VARIANTS))
def test_the_family_compiles_to_the_same_probabilities(make: Any, reviews: pd.DataFrame) -> None:
    pipeline = _fit(make(), reviews)
    _assert_same_answers(pipeline, [*reviews[TEXT].astype(str).iloc[::3], *proof_reviews()])


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 2), (2, 4), (3, 5)])
def test_word_ngrams_are_the_vectorizers_own(ngram_range: tuple[int, int]) -> None:
    """The scorer's faster word analyzer gives exactly scikit-learn's tokens, short texts too."""
    vectorizer = HashingVectorizer(
        ngram_range=ngram_range, token_pattern=WORD_PATTERN, strip_accents="unicode"
    )
    texts = ["", "one", "Two words", "Three WORDS here!", "Café déjà vu, isn't it? " * 3]
    for text in texts:
        assert _analyzer(vectorizer)(text) == vectorizer.build_analyzer()(text)


def test_a_text_that_is_not_unicode_raises_as_the_pipeline_does(reviews: pd.DataFrame) -> None:
    """A lone surrogate cannot be hashed: an error like scikit-learn's, never a crashed process."""
    pipeline = _fit(
        Pipeline([("counts", _column(_hashing())), ("classifier", LogisticRegression())]),
        reviews,
    )
    scorer = compile_pipeline(pipeline, TEXT)
    with pytest.raises(UnicodeEncodeError):
        pipeline.predict_proba(pd.DataFrame({TEXT: ["bad \ud800 text"]}))
    with pytest.raises(UnicodeEncodeError):
        scorer.positive_proba(["bad \ud800 text"])
    assert len(scorer.positive_proba(["good text"])) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: Pipeline(
                [
                    ("counts", _column(_hashing())),
                    ("scale", MaxAbsScaler()),
                    ("classifier", LogisticRegression()),
                ]
            ),
            "MaxAbsScaler",
        ),
        (
            lambda: Pipeline(
                [
                    ("counts", _column(_hashing())),
                    ("classifier", SGDClassifier(loss="modified_huber", random_state=0)),
                ]
            ),
            "modified_huber",
        ),
        (
            lambda: Pipeline(
                [
                    ("counts", ColumnTransformer([("text", _hashing(), [TEXT])])),
                    ("classifier", LogisticRegression()),
                ]
            ),
            "alone",
        ),
    ],
    ids=["unknown step", "other loss", "list of columns"],
)
def test_pipelines_outside_the_family_are_refused(
    make: Any, reason: str, reviews: pd.DataFrame
) -> None:
    pipeline = make()
    try:
        _fit(pipeline, reviews)
    except ValueError:  # a list of columns hands the vectorizer a DataFrame: it cannot fit
        pipeline = None
    if pipeline is not None:
        with pytest.raises(NotCompilableError, match=reason):
            compile_pipeline(pipeline, TEXT)


def _loaded(pipeline: Any) -> LoadedModel:
    identity = ModelIdentity("m", "1", "", "models:/m/1")
    return LoadedModel(pipeline, identity, TEXT, None, example_texts=("an example review",))


def test_the_server_uses_a_proven_scorer_and_falls_back_otherwise(
    reviews: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    train = reviews.iloc[:TRAIN_ROWS]
    pipeline = train_pipeline(train[TEXT], train["sentiment"], ModelParams(hash_bits=16))
    texts = [str(text) for text in reviews[TEXT].iloc[:50]]

    compiled = with_compiled_scorer(_loaded(pipeline))
    assert compiled.scorer is not None
    generic = compiled.predict_generic(texts)
    fast = compiled.predict(texts)
    assert [p.label for p in fast] == [p.label for p in generic]
    pairs = zip(fast, generic, strict=True)
    assert max(abs(a.probability_positive - b.probability_positive) for a, b in pairs) <= TOLERANCE
    # Proven, the scorer makes the Pipeline redundant: the served model does not keep it.
    lean = compiled.without_redundant_pipeline()
    assert lean.pipeline is None
    assert lean.predict(texts) == fast
    with pytest.raises(RuntimeError, match="dropped"):
        lean.predict_generic(texts)

    # A scorer that disagrees with its pipeline is not used: the generic path serves.
    broken = compile_pipeline(pipeline, TEXT)
    broken.weights[:] *= 1.01
    assert prove(broken, pipeline, TEXT, texts) > TOLERANCE
    refused = replace(_loaded(pipeline), pipeline=_Tampered(pipeline))
    caplog.set_level("INFO")
    assert with_compiled_scorer(refused).scorer is None
    assert "generic Pipeline path" in caplog.text
    generic_only = with_compiled_scorer(refused).without_redundant_pipeline()
    assert generic_only.pipeline is not None  # nothing else could serve
    assert [p.label for p in generic_only.predict(texts)] == [
        p.label for p in refused.predict_generic(texts)
    ]


class _Tampered(Pipeline):  # type: ignore[misc]
    """The project's pipeline whose probabilities are nudged: no fold can match it."""

    def __init__(self, inner: Pipeline) -> None:
        super().__init__(inner.steps)

    def predict_proba(self, X: Any, **params: Any) -> Any:  # noqa: N803
        proba = super().predict_proba(X, **params)
        return np.clip(proba + np.array([-1e-4, 1e-4]), 0, 1)


def test_the_compiled_path_scores_directly_and_the_generic_path_is_batched(
    reviews: pd.DataFrame,
) -> None:
    train = reviews.iloc[:TRAIN_ROWS]
    pipeline = train_pipeline(train[TEXT], train["sentiment"], ModelParams(hash_bits=14))
    texts = [str(text) for text in reviews[TEXT].iloc[TRAIN_ROWS : TRAIN_ROWS + 3 * SLICE + 5]]
    compiled = with_compiled_scorer(_loaded(pipeline)).without_redundant_pipeline()
    direct = ModelSlot(compiled, max_batch_texts=100).serving.batcher
    assert isinstance(direct, Direct)
    # Scored slice by slice, the answers are the scorer's, in order.
    assert direct.predict(texts) == compiled.predict(texts)

    generic = ModelSlot(_loaded(pipeline), max_batch_texts=100).serving.batcher
    assert isinstance(generic, MicroBatcher)
    by_pipeline = generic.predict(texts)
    assert [p.label for p in by_pipeline] == [p.label for p in direct.predict(texts)]
