"""Property-based: whatever arrives, the answer is JSON and never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_server.errors import ErrorBody
from model_server.schemas import InvocationsResponse, PredictResponse
from tests.conftest import MAX_BATCH_SIZE
from tests.model_server.servers import ModelServer

pytestmark = pytest.mark.integration

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
texts = st.text(min_size=0, max_size=200)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF8",
        "application/json; charset=latin-1",
        "application/json; boundary=x",
        "text/csv",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)
predict_objects = st.one_of(
    st.fixed_dictionaries({"text": texts | json_values}),
    st.fixed_dictionaries({"texts": st.lists(texts | json_values, max_size=MAX_BATCH_SIZE + 5)}),
    st.dictionaries(
        st.sampled_from(["text", "texts", "review", ""]), texts | json_values, max_size=3
    ),
    json_values,
)
column_names = st.sampled_from(["review", "text", "0", ""])
invocation_objects = st.one_of(
    st.fixed_dictionaries(
        {
            "dataframe_split": st.fixed_dictionaries(
                {"columns": st.lists(column_names, max_size=3), "data": json_values}
            )
            | json_values
        }
    ),
    st.fixed_dictionaries(
        {"dataframe_records": st.lists(st.dictionaries(column_names, texts | json_values))}
    ),
    st.fixed_dictionaries({"instances": st.lists(texts | json_values, max_size=8) | json_values}),
    st.fixed_dictionaries(
        {"inputs": st.dictionaries(column_names, st.lists(texts) | json_values) | json_values}
    ),
    st.dictionaries(
        st.sampled_from(["inputs", "instances", "params", "x"]), json_values, max_size=3
    ),
)


def encoded(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON of ``objects``, JSON with bytes flipped, or any bytes at all."""
    as_json = objects.map(lambda value: json.dumps(value).encode())
    damaged = st.tuples(as_json, st.binary(min_size=1, max_size=4), st.integers(0, 200)).map(
        lambda parts: parts[0][: parts[2]] + parts[1] + parts[0][parts[2] :]
    )
    return st.one_of(as_json, as_json, damaged, st.binary(max_size=300))


def check(response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["Content-Type"] == "application/json", response.text
    if response.status_code >= 400:
        ErrorBody.model_validate_json(response.content)


@SETTINGS
@given(body=encoded(predict_objects), content_type=content_types)
def test_predict_never_fails_with_a_5xx(
    server: ModelServer, http: requests.Session, body: bytes, content_type: str
) -> None:
    response = http.post(f"{server.url}/predict", data=body, headers={"Content-Type": content_type})
    check(response)
    if response.status_code == 200:
        PredictResponse.model_validate_json(response.content)


@SETTINGS
@given(body=encoded(invocation_objects), content_type=content_types)
def test_invocations_never_fails_with_a_5xx(
    server: ModelServer, http: requests.Session, body: bytes, content_type: str
) -> None:
    response = http.post(
        f"{server.url}/invocations", data=body, headers={"Content-Type": content_type}
    )
    check(response)
    if response.status_code == 200:
        InvocationsResponse.model_validate_json(response.content)


@SETTINGS
@given(
    batch=st.lists(
        st.text(min_size=1, max_size=300).filter(lambda text: text.strip() != ""),
        min_size=1,
        max_size=MAX_BATCH_SIZE,
    )
)
def test_any_batch_of_real_texts_gets_one_prediction_each(
    server: ModelServer, http: requests.Session, batch: list[str]
) -> None:
    response = http.post(f"{server.url}/predict", json={"texts": batch})
    assert response.status_code == 200, response.text
    predictions = PredictResponse.model_validate_json(response.content).predictions
    assert len(predictions) == len(batch)
    for prediction in predictions:
        assert (prediction.label == "positive") == (prediction.probability_positive > 0.5)
