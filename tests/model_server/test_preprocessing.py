"""The vectorizer's built-in preprocessing, as data, is exactly scikit-learn's."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer

from model_server.preprocessing import Preprocessing
from tests.conftest import IMDB_CSV
from tests.model_server.test_scoring_native import EDGE_TEXTS

ACCENTED = [
    "Café déjà vu, naïve coöperation, Ångström, Øresund, Straße, ﬁne ligature",
    "ÉTÉ À L'ŒUVRE: ½ ² \u210c Ⅻ ﬀ ǅ İ ß ẞ",
    "e\u0301 combining acute, a\u0308 umlaut, \u0301 alone",
    "Ελληνικά τόνοι: ά έ ή ί ό ύ ώ ΐ ΰ",
    "Tiếng Việt có dấu",
    "\ud800 lone surrogate é",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [*pd.read_csv(IMDB_CSV)["review"].astype(str).iloc[:500], *EDGE_TEXTS, *ACCENTED]


@pytest.mark.parametrize("vectorizer_type", [CountVectorizer, TfidfVectorizer, HashingVectorizer])
@pytest.mark.parametrize("strip_accents", [None, "ascii", "unicode"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_it_is_the_vectorizers_own_preprocessor(
    vectorizer_type: Any, strip_accents: str | None, lowercase: bool, texts: list[str]
) -> None:
    vectorizer = vectorizer_type(strip_accents=strip_accents, lowercase=lowercase)
    preprocessing = Preprocessing.of(vectorizer)
    assert preprocessing == Preprocessing(lowercase, strip_accents)  # type: ignore[arg-type]
    expected = vectorizer.build_preprocessor()
    for text in texts:
        assert preprocessing(text) == expected(text), text[:80]


def test_accents_are_stripped_and_case_changed_only_when_asked() -> None:
    text = "Café ÉTÉ"
    assert Preprocessing(lowercase=False)(text) == text
    assert Preprocessing(lowercase=True)(text) == "café été"
    assert Preprocessing(lowercase=True, strip_accents="unicode")(text) == "cafe ete"
    assert Preprocessing(lowercase=False, strip_accents="ascii")(text) == "Cafe ETE"
    # "unicode" keeps what has no ASCII form; "ascii" drops it.
    assert Preprocessing(lowercase=False, strip_accents="unicode")("Øß") == "Øß"
    assert Preprocessing(lowercase=False, strip_accents="ascii")("Øß") == ""


@pytest.mark.parametrize(
    "options",
    [
        {"preprocessor": str.strip},
        {"strip_accents": lambda text: text},
    ],
    ids=["own preprocessor", "own accent function"],
)
def test_a_function_of_its_own_is_not_data(options: dict[str, Any]) -> None:
    assert Preprocessing.of(CountVectorizer(**options)) is None
