"""The Pipeline loaded and compiled in a process of its own, and what it hands back."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from model_server.compiled import TOLERANCE, difference, pipeline_positive_proba
from model_server.compiler_process import (
    Compiled,
    CompilerError,
    CompilerProcess,
    InProcess,
    Request,
    Unservable,
    compile_model,
)
from model_server.loading import proof_reviews
from tests.conftest import IMDB_CSV
from training.model import ModelParams, compact_vocabulary, train_pipeline

TEXT = "review"


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(IMDB_CSV).iloc[:800]


def _saved(pipeline: Any, root: Path, name: str) -> str:
    path = root / name
    mlflow.sklearn.save_model(pipeline, str(path), pip_requirements=["scikit-learn"])
    return str(path)


def _trained(reviews: pd.DataFrame, params: ModelParams) -> Pipeline:
    pipeline = train_pipeline(reviews[TEXT], reviews["sentiment"], params)
    compact_vocabulary(pipeline)
    return pipeline


@pytest.fixture(scope="module")
def project_model(reviews: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The project's default Pipeline (a learnt vocabulary), saved as MLflow saves it."""
    pipeline = _trained(reviews, ModelParams())
    return _saved(pipeline, tmp_path_factory.mktemp("models"), "project")


def _request(path: str, reviews: pd.DataFrame) -> Request:
    return Request(path, TEXT, (*reviews[TEXT].astype(str).iloc[:40], *proof_reviews()))


def test_the_project_model_comes_back_compiled_with_the_pipelines_probabilities(
    project_model: str, reviews: pd.DataFrame
) -> None:
    request = _request(project_model, reviews)
    outcome = compile_model(request)
    assert isinstance(outcome, Compiled)
    pipeline = mlflow.sklearn.load_model(project_model)
    expected = pipeline_positive_proba(pipeline, TEXT, request.texts)
    assert np.array_equal(outcome.expected, expected)
    assert difference(outcome.scorer, request.texts, expected) <= TOLERANCE


def test_a_hashing_model_comes_back_compiled_too(reviews: pd.DataFrame, tmp_path: Path) -> None:
    """The project's hashing option: its word n-grams are hashed with ``mmh3`` after the
    built-in preprocessing and the token pattern's ``findall``, none of it scikit-learn's."""
    pipeline = _trained(reviews, ModelParams(hashing=True, hash_bits=16, ngram_max=2))
    request = _request(_saved(pipeline, tmp_path, "hashing"), reviews)
    outcome = compile_model(request)
    assert isinstance(outcome, Compiled)
    assert difference(outcome.scorer, request.texts, outcome.expected) <= TOLERANCE


def test_a_model_with_character_ngrams_is_loaded_where_it_serves(
    reviews: pd.DataFrame, tmp_path: Path
) -> None:
    """Its character n-grams come from scikit-learn's own analyzer: the scorer cannot
    leave the process that imported it."""
    params = ModelParams(ngram_max=2, char_ngram_max=3, char_hash_bits=14)
    pipeline = _trained(reviews, params)
    outcome = compile_model(_request(_saved(pipeline, tmp_path, "chars"), reviews))
    assert isinstance(outcome, InProcess)
    assert "runs scikit-learn's code" in outcome.reason


def test_a_model_outside_the_family_is_loaded_where_it_serves(
    reviews: pd.DataFrame, tmp_path: Path
) -> None:
    pipeline = Pipeline(
        [
            ("counts", ColumnTransformer([("text", HashingVectorizer(n_features=2**12), TEXT)])),
            ("scale", MaxAbsScaler()),
            ("classifier", LogisticRegression()),
        ]
    ).fit(reviews[[TEXT]], reviews["sentiment"])
    outcome = compile_model(_request(_saved(pipeline, tmp_path, "scaled"), reviews))
    assert isinstance(outcome, InProcess)
    assert "no compiled scorer: step MaxAbsScaler is not a TfidfTransformer" in outcome.reason


def test_a_model_that_cannot_serve_says_why(reviews: pd.DataFrame, tmp_path: Path) -> None:
    stars = reviews["sentiment"].map({"positive": "5 stars", "negative": "1 star"})
    pipeline = train_pipeline(reviews[TEXT], stars, ModelParams(hashing=True, hash_bits=12))
    outcome = compile_model(_request(_saved(pipeline, tmp_path, "stars"), reviews))
    assert isinstance(outcome, Unservable)
    assert "model classes are ['1 star', '5 stars']" in outcome.reason

    missing = compile_model(_request(str(tmp_path / "nothing-here"), reviews))
    assert isinstance(missing, Unservable)
    assert "nothing-here" in missing.reason


def test_the_process_answers_a_scorer_that_serves_without_scikit_learn(
    project_model: str, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    """The real child process; its answer, read by an interpreter that never imports
    scikit-learn, scores as the pipeline does."""
    request = _request(project_model, reviews)
    with CompilerProcess.start("info") as compiler:
        outcome = compiler.compile(request, timeout=120)
    assert isinstance(outcome, Compiled)
    answer = tmp_path / "answer.pickle"
    answer.write_bytes(pickle.dumps(outcome))
    texts = tmp_path / "texts.pickle"
    texts.write_bytes(pickle.dumps(list(request.texts)))
    script = (
        "import json, pickle, sys\n"
        f"outcome = pickle.load(open({str(answer)!r}, 'rb'))\n"
        f"texts = pickle.load(open({str(texts)!r}, 'rb'))\n"
        "print(json.dumps(outcome.scorer.positive_proba(texts)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'sklearn', 'skops'}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    scored, imported = run.stdout.splitlines()
    assert imported == "[]"
    assert np.max(np.abs(np.array(json.loads(scored)) - outcome.expected)) <= TOLERANCE


def test_a_process_that_takes_too_long_is_stopped(
    project_model: str, reviews: pd.DataFrame
) -> None:
    compiler = CompilerProcess.start("info")
    with pytest.raises(CompilerError, match=r"not loaded within 0\.01 s"):
        compiler.compile(_request(project_model, reviews), timeout=0.01)
    assert compiler._process.returncode is not None  # killed, and waited for


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import sys; sys.exit(3)", "exited with status 3"),
        ("pass", "exited with status 0"),
        ("import sys; sys.stdout.buffer.write(b'not a pickle')", "answered something unreadable"),
        ("import pickle, sys; sys.stdout.buffer.write(pickle.dumps(42))", "answered a int"),
    ],
    ids=["failed", "silent", "garbled", "wrong kind"],
)
def test_a_process_without_an_answer_is_an_error(script: str, message: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    with CompilerProcess(process) as compiler, pytest.raises(CompilerError, match=message):
        compiler.compile(Request("/nowhere", TEXT, ()), timeout=60)
