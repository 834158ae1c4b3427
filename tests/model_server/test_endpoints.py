"""Every endpoint of a real gunicorn server serving a model from a real MLflow registry."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from model_server.compiled import TOLERANCE
from model_server.schemas import InvocationsResponse, Metadata, PredictResponse, Readiness
from tests.conftest import MAX_BATCH_SIZE
from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer

pytestmark = pytest.mark.integration

POSITIVE_REVIEW = "A wonderful, moving film. The acting is superb and I loved every minute."
NEGATIVE_REVIEW = "Awful. A boring, stupid plot and terrible acting; a complete waste of time."


def expected(pipeline: Any, texts: list[str]) -> tuple[list[str], list[float]]:
    """Labels and probabilities of positive straight from the Pipeline."""
    proba = pipeline.predict_proba(pd.DataFrame({"review": texts}))
    positive = list(pipeline.classes_).index("positive")
    return list(pipeline.predict(pd.DataFrame({"review": texts}))), list(proba[:, positive])


def test_healthz_answers(server: ModelServer, http: requests.Session) -> None:
    response = http.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_served_version(
    server: ModelServer, http: requests.Session, registered_model: RegisteredModel
) -> None:
    response = http.get(f"{server.url}/readyz")
    assert response.status_code == 200
    assert Readiness.model_validate_json(response.content) == Readiness(
        status="ready", model_name=registered_model.name, model_version=registered_model.version
    )


def test_predict_one_text(
    server: ModelServer, http: requests.Session, registered_model: RegisteredModel
) -> None:
    positive = http.post(f"{server.url}/predict", json={"text": POSITIVE_REVIEW})
    negative = http.post(f"{server.url}/predict", json={"text": NEGATIVE_REVIEW})
    assert positive.status_code == negative.status_code == 200
    body = PredictResponse.model_validate_json(positive.content)
    assert (body.model.name, body.model.version) == (
        registered_model.name,
        registered_model.version,
    )
    assert [p.label for p in body.predictions] == ["positive"]
    assert body.predictions[0].probability_positive > 0.5
    other = PredictResponse.model_validate_json(negative.content).predictions
    assert [p.label for p in other] == ["negative"]
    assert other[0].probability_positive < 0.5


def test_predict_batch_matches_the_pipeline_in_order(
    server: ModelServer, http: requests.Session, local_pipeline: Any, sample_texts: list[str]
) -> None:
    response = http.post(f"{server.url}/predict", json={"texts": sample_texts})
    assert response.status_code == 200
    predictions = PredictResponse.model_validate_json(response.content).predictions
    labels, probabilities = expected(local_pipeline, sample_texts)
    assert [p.label for p in predictions] == labels
    # The compiled scorer computes in float64 where the Pipeline uses float32 (a few 1e-7).
    np.testing.assert_allclose(
        [p.probability_positive for p in predictions], probabilities, rtol=0, atol=TOLERANCE
    )
    assert len(set(labels)) == 2, "the sample should hold both classes"


def test_batch_of_exactly_the_limit_is_accepted(
    server: ModelServer, http: requests.Session
) -> None:
    texts = [f"review number {i}, quite good" for i in range(MAX_BATCH_SIZE)]
    response = http.post(f"{server.url}/predict", json={"texts": texts})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == MAX_BATCH_SIZE


def test_concurrent_requests_each_get_their_own_answers(
    server: ModelServer, local_pipeline: Any, sample_texts: list[str]
) -> None:
    """Requests scored together in one model call still get back exactly their texts."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(text: str) -> str:
        response = requests.post(f"{server.url}/predict", json={"text": text}, timeout=60)
        assert response.status_code == 200
        return str(response.json()["predictions"][0]["label"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        labels = list(pool.map(ask, sample_texts))
    assert labels == expected(local_pipeline, sample_texts)[0]


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        ("dataframe_split", lambda t: {"columns": ["review"], "data": [[x] for x in t]}),
        (
            "dataframe_split",
            lambda t: {
                "index": list(range(len(t))),
                "columns": ["review"],
                "data": [[x] for x in t],
            },
        ),
        ("dataframe_records", lambda t: [{"review": x} for x in t]),
        ("instances", lambda t: [{"review": x} for x in t]),
        ("instances", lambda t: list(t)),
        ("inputs", lambda t: {"review": list(t)}),
        ("inputs", lambda t: list(t)),
    ],
)
def test_invocations_accepts_mlflow_json_formats(
    server: ModelServer,
    http: requests.Session,
    local_pipeline: Any,
    sample_texts: list[str],
    fmt: str,
    payload: Any,
) -> None:
    texts = sample_texts[:6]
    response = http.post(f"{server.url}/invocations", json={fmt: payload(texts), "params": {}})
    assert response.status_code == 200, response.text
    body = InvocationsResponse.model_validate_json(response.content)
    assert body.predictions == expected(local_pipeline, texts)[0]


def test_invocations_accepts_csv(
    server: ModelServer, http: requests.Session, local_pipeline: Any, sample_texts: list[str]
) -> None:
    texts = sample_texts[:5]
    body = pd.DataFrame({"review": texts}).to_csv(index=False)
    response = http.post(
        f"{server.url}/invocations", data=body.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected(local_pipeline, texts)[0]


def test_invocations_works_with_mlflows_own_client(
    server: ModelServer, local_pipeline: Any, sample_texts: list[str]
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    texts = sample_texts[:4]
    host, port = server.url.removeprefix("http://").split(":")
    client = ScoringServerClient(host, port)  # type: ignore[no-untyped-call]
    result = client.invoke(pd.DataFrame({"review": texts}))
    assert list(result["predictions"]) == expected(local_pipeline, texts)[0]


def test_metadata_reports_the_run_and_its_metrics(
    server: ModelServer, http: requests.Session, registered_model: RegisteredModel
) -> None:
    response = http.get(f"{server.url}/metadata")
    assert response.status_code == 200
    assert Metadata.model_validate_json(response.content) == Metadata(
        model_name=registered_model.name,
        model_version=registered_model.version,
        run_id=registered_model.run_id,
        model_uri=registered_model.uri,
        metrics=registered_model.metrics,
    )


def test_openapi_describes_exactly_the_routes(server: ModelServer, http: requests.Session) -> None:
    document = http.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/healthz", "/readyz", "/predict", "/invocations", "/metadata", "/metrics",
        "/openapi.json", "/", "/v2", "/v2/health/live", "/v2/health/ready",
        "/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/infer",
    }  # fmt: skip
    schemas = document["components"]["schemas"]
    assert schemas["ReviewBatch"]["properties"]["texts"]["maxItems"] == MAX_BATCH_SIZE
    for path, operations in document["paths"].items():
        for method in operations:
            if method == "get":
                name = server_model_name(http, server)
                url = f"{server.url}{path.replace('{name}', name)}"
                assert http.get(url).status_code == 200, path


def test_index_page_offers_a_form_and_names_the_model(
    server: ModelServer, http: requests.Session, registered_model: RegisteredModel
) -> None:
    response = http.get(f"{server.url}/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<textarea" in page
    assert '<form method="post" action="/">' in page
    assert registered_model.name in page
    assert "<script" not in page


def test_index_form_answers_without_javascript(server: ModelServer, http: requests.Session) -> None:
    """The form posts to the page, which comes back with the answer and its confidence."""
    negative = http.post(f"{server.url}/", data={"text": "Awful, boring, the worst film ever."})
    assert negative.status_code == 200
    assert negative.headers["Content-Type"].startswith("text/html")
    assert re.search(r"negative, \d{1,3} %", negative.text)
    assert "Awful, boring" in negative.text  # the review stays in the box
    positive = http.post(f"{server.url}/", data={"text": "A wonderful, moving, great film."})
    assert re.search(r"positive, \d{1,3} %", positive.text)

    for blank in ("", "   \n "):
        empty = http.post(f"{server.url}/", data={"text": blank})
        assert empty.status_code == 200
        assert "Type a review first" in empty.text
        assert "positive, " not in empty.text
        assert "negative, " not in empty.text
        assert "validation" not in empty.text.lower()


def test_unknown_path_and_wrong_method_are_json_errors(
    server: ModelServer, http: requests.Session
) -> None:
    missing = http.get(f"{server.url}/no/such/page")
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"
    wrong = http.get(f"{server.url}/predict")
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["Allow"]
    assert wrong.json()["error"] == "Method Not Allowed"


def server_model_name(http: requests.Session, server: ModelServer) -> str:
    return str(http.get(f"{server.url}/readyz").json()["model_name"])
