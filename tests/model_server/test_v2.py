"""The Open Inference Protocol (v2) endpoints, as KServe and Triton clients call them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import requests

from model_server.compiled import TOLERANCE
from tests.conftest import MAX_BATCH_SIZE
from tests.model_server.servers import ModelServer
from tests.model_server.test_endpoints import expected
from tests.model_server.test_metrics import scrape, value

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def name(server: ModelServer, http: requests.Session) -> str:
    return str(http.get(f"{server.url}/readyz").json()["model_name"])


def _tensor(data: list[Any], shape: list[int] | None = None) -> dict[str, Any]:
    shape = shape or [len(data)]
    return {"inputs": [{"name": "review", "shape": shape, "datatype": "BYTES", "data": data}]}


def test_health_and_metadata(server: ModelServer, http: requests.Session, name: str) -> None:
    assert http.get(f"{server.url}/v2").json()["name"] == "sentiment-server"
    assert http.get(f"{server.url}/v2/health/live").json() == {"live": True}
    assert http.get(f"{server.url}/v2/health/ready").json() == {"ready": True}
    assert http.get(f"{server.url}/v2/models/{name}/ready").json()["ready"] is True
    metadata = http.get(f"{server.url}/v2/models/{name}").json()
    assert metadata["name"] == name
    assert [(i["datatype"], i["shape"]) for i in metadata["inputs"]] == [("BYTES", [-1])]
    assert [(o["name"], o["datatype"]) for o in metadata["outputs"]] == [
        ("label", "BYTES"),
        ("probability_positive", "FP64"),
    ]


@pytest.mark.parametrize("nested", [False, True], ids=["shape [N]", "shape [N, 1]"])
def test_infer_matches_the_pipeline(
    server: ModelServer,
    http: requests.Session,
    name: str,
    local_pipeline: Any,
    sample_texts: list[str],
    nested: bool,
) -> None:
    texts = sample_texts[:10]
    body = _tensor([[t] for t in texts], [len(texts), 1]) if nested else _tensor(texts)
    body["id"] = "req-1"
    response = http.post(f"{server.url}/v2/models/{name}/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "req-1"
    assert answer["model_name"] == name
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["label"]["shape"] == [len(texts)]
    assert outputs["probability_positive"]["datatype"] == "FP64"
    labels, probabilities = expected(local_pipeline, texts)
    assert outputs["label"]["data"] == labels
    np.testing.assert_allclose(
        outputs["probability_positive"]["data"], probabilities, rtol=0, atol=TOLERANCE
    )
    only = {**body, "outputs": [{"name": "probability_positive"}]}
    just_one = http.post(f"{server.url}/v2/models/{name}/infer", json=only).json()
    assert [o["name"] for o in just_one["outputs"]] == ["probability_positive"]


def test_another_model_is_404(server: ModelServer, http: requests.Session) -> None:
    for response in (
        http.get(f"{server.url}/v2/models/not-this-one"),
        http.get(f"{server.url}/v2/models/not-this-one/ready"),
        http.post(f"{server.url}/v2/models/not-this-one/infer", json=_tensor(["fine"])),
    ):
        assert response.status_code == 404
        assert "not-this-one" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": []},
        {"inputs": [{"name": "review", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
        _tensor(["a", "b"], [3]),
        _tensor(["a", "b"], [1, 2]),
        _tensor([3]),
        _tensor([""]),
        _tensor(["fine"] * (MAX_BATCH_SIZE + 1)),
        {**_tensor(["fine"]), "outputs": [{"name": "nope"}]},
        {"text": "fine"},
        "not an object",
    ],
    ids=[
        "no inputs",
        "not BYTES",
        "shape mismatch",
        "wide",
        "not a string",
        "blank",
        "over the batch limit",
        "unknown output",
        "not a request",
        "not an object",
    ],
)
def test_a_bad_tensor_is_400(
    server: ModelServer, http: requests.Session, name: str, body: Any
) -> None:
    response = http.post(f"{server.url}/v2/models/{name}/infer", json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]


def test_bad_json_and_media_type_keep_the_protocol_error_shape(
    server: ModelServer, http: requests.Session, name: str
) -> None:
    url = f"{server.url}/v2/models/{name}/infer"
    broken = http.post(url, data=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert set(broken.json()) == {"error"}
    plain = http.post(url, data=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert set(plain.json()) == {"error"}


def test_metrics_label_v2_routes_by_template(
    server: ModelServer, http: requests.Session, name: str
) -> None:
    before = scrape(server)
    http.post(f"{server.url}/v2/models/{name}/infer", json=_tensor(["fine"]))
    http.post(f"{server.url}/v2/models/other-name/infer", json=_tensor(["fine"]))
    after = scrape(server)
    endpoints = {dict(labels)["endpoint"] for metric, labels in after if "requests" in metric}
    assert "/v2/models/{name}/infer" in endpoints
    assert not any(name in endpoint or "other-name" in endpoint for endpoint in endpoints)
    route = dict(method="POST", endpoint="/v2/models/{name}/infer")
    for status, count in (("200", 1), ("404", 1)):
        assert (
            value(after, "sentiment_requests_total", status=status, **route)
            - value(before, "sentiment_requests_total", status=status, **route)
            == count
        )
