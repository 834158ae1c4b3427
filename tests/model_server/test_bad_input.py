"""Bad input gets a 4xx with a JSON body saying what is wrong; never a 500, never a dead worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from model_server.errors import ErrorBody
from tests.conftest import MAX_BATCH_SIZE
from tests.model_server.servers import ModelServer

pytestmark = pytest.mark.integration

JSON_TYPE = {"Content-Type": "application/json"}
ONE_MIB = 1 << 20
MAX_REVIEW_CHARS = 100_000  # the server's default

PREDICT_CASES = [
    # (id, body, headers, status, words the message must contain)
    ("invalid-json", b'{"text": "unterminated', JSON_TYPE, 400, "json"),
    ("empty-body", b"", JSON_TYPE, 400, "json"),
    ("not-utf8", b'{"text": "caf\xe9"}', JSON_TYPE, 400, "utf-8"),
    ("bare-not-utf8", b"\xff\xfe\x00", JSON_TYPE, 400, "utf-8"),
    ("text-plain", b'{"text": "fine"}', {"Content-Type": "text/plain"}, 415, "content-type"),
    (
        "form",
        b"text=fine",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "content-type",
    ),
    ("no-content-type", b'{"text": "fine"}', {}, 415, "content-type"),
    (
        "latin1-charset",
        b'{"text": "fine"}',
        {"Content-Type": "application/json; charset=latin-1"},
        415,
        "utf-8",
    ),
    ("json-array", b'["fine"]', JSON_TYPE, 422, "object"),
    ("json-string", b'"fine"', JSON_TYPE, 422, "object"),
    ("json-number", b"42", JSON_TYPE, 422, "object"),
    ("json-null", b"null", JSON_TYPE, 422, "object"),
    ("missing-text", b'{"review": "fine"}', JSON_TYPE, 422, "text"),
    ("empty-object", b"{}", JSON_TYPE, 422, "text"),
    ("null-text", b'{"text": null}', JSON_TYPE, 422, "string"),
    ("number-text", b'{"text": 5}', JSON_TYPE, 422, "string"),
    ("list-text", b'{"text": ["a"]}', JSON_TYPE, 422, "string"),
    ("empty-text", b'{"text": ""}', JSON_TYPE, 422, "empty"),
    ("blank-text", b'{"text": " \\n\\t "}', JSON_TYPE, 422, "empty"),
    ("null-texts", b'{"texts": null}', JSON_TYPE, 422, "array"),
    ("string-texts", b'{"texts": "fine"}', JSON_TYPE, 422, "array"),
    ("empty-batch", b'{"texts": []}', JSON_TYPE, 422, "at least 1"),
    ("null-in-batch", b'{"texts": ["fine", null]}', JSON_TYPE, 422, "texts.1"),
    ("blank-in-batch", b'{"texts": ["fine", "  "]}', JSON_TYPE, 422, "texts.1"),
    ("both-keys", b'{"text": "a", "texts": ["b"]}', JSON_TYPE, 422, "texts"),
    ("extra-key", b'{"text": "a", "lang": "en"}', JSON_TYPE, 422, "lang"),
    ("lone-surrogate", b'{"text": "\\ud800"}', JSON_TYPE, 400, "json"),
    ("deep-nesting", b"[" * 100_000, JSON_TYPE, 400, "json"),
    (
        "over-limit-batch",
        json.dumps({"texts": ["fine"] * (MAX_BATCH_SIZE + 1)}).encode(),
        JSON_TYPE,
        422,
        f"limit of {MAX_BATCH_SIZE}",
    ),
    (
        "over-long-review",
        json.dumps({"texts": ["fine", "a" * (MAX_REVIEW_CHARS + 1)]}).encode(),
        JSON_TYPE,
        422,
        f"texts.1: {MAX_REVIEW_CHARS + 1} characters",
    ),
    (
        "over-size-body",
        json.dumps({"text": "a" * ONE_MIB}).encode(),
        JSON_TYPE,
        413,
        f"{ONE_MIB} bytes",
    ),
]

INVOCATIONS_CASES = [
    ("invalid-json", b"{nope", JSON_TYPE, 400, "json"),
    ("not-utf8", b'{"inputs": ["caf\xe9"]}', JSON_TYPE, 400, "utf-8"),
    ("text-plain", b'{"inputs": ["fine"]}', {"Content-Type": "text/plain"}, 415, "content-type"),
    ("json-array", b'[{"review": "fine"}]', JSON_TYPE, 422, "dataframe_split"),
    ("no-format-key", b'{"data": [["fine"]]}', JSON_TYPE, 422, "exactly one"),
    ("two-format-keys", b'{"inputs": ["a"], "instances": ["b"]}', JSON_TYPE, 422, "exactly one"),
    ("wrong-column", b'{"dataframe_records": [{"text": "fine"}]}', JSON_TYPE, 422, "review"),
    ("split-no-columns", b'{"dataframe_split": {"data": [["fine"]]}}', JSON_TYPE, 422, "review"),
    ("non-string", b'{"dataframe_records": [{"review": 3}]}', JSON_TYPE, 422, "string"),
    ("null-review", b'{"dataframe_records": [{"review": null}]}', JSON_TYPE, 422, "string"),
    (
        "empty-review",
        b'{"dataframe_split": {"columns": ["review"], "data": [[""]]}}',
        JSON_TYPE,
        422,
        "empty",
    ),
    ("no-rows", b'{"dataframe_records": []}', JSON_TYPE, 422, ""),
    ("nested-inputs", b'{"inputs": {"review": [["a", "b"]]}}', JSON_TYPE, 422, "review"),
    ("split-not-object", b'{"dataframe_split": "fine"}', JSON_TYPE, 422, ""),
    ("csv-no-header-column", b"text\nfine\n", {"Content-Type": "text/csv"}, 422, "review"),
    ("csv-empty", b"", {"Content-Type": "text/csv"}, 422, ""),
    (
        "csv-too-wide",
        (",".join(f"c{i}" for i in range(100_000)) + "\n" + "x," * 99_999 + "x\n").encode(),
        {"Content-Type": "text/csv"},
        422,
        "100000 columns",
    ),
    (
        "over-long-review",
        json.dumps({"inputs": ["a" * (MAX_REVIEW_CHARS + 1)]}).encode(),
        JSON_TYPE,
        422,
        "characters is over the limit",
    ),
    (
        "over-limit-rows",
        json.dumps({"inputs": ["fine"] * (MAX_BATCH_SIZE + 1)}).encode(),
        JSON_TYPE,
        422,
        f"limit of {MAX_BATCH_SIZE}",
    ),
    (
        "over-size-body",
        json.dumps({"inputs": ["a" * ONE_MIB]}).encode(),
        JSON_TYPE,
        413,
        f"{ONE_MIB} bytes",
    ),
]


@pytest.fixture(scope="module", autouse=True)
def workers_survive(server: ModelServer) -> Iterator[None]:
    """No bad request may kill (or restart) a worker."""
    before = server.worker_pids()
    yield
    assert server.worker_pids() == before
    assert "Traceback" not in server.log()


def assert_json_error(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = ErrorBody.model_validate_json(response.content)
    assert words.lower() in body.message.lower() or any(
        words.lower() in f"{d.loc} {d.message}".lower() for d in body.details
    ), body


ENDPOINT_CASES = [("/predict", *case) for case in PREDICT_CASES] + [
    ("/invocations", *case) for case in INVOCATIONS_CASES
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "words"),
    [(case[0], *case[2:]) for case in ENDPOINT_CASES],
    ids=[f"{case[0].strip('/')}-{case[1]}" for case in ENDPOINT_CASES],
)
def test_endpoint_rejects(
    server: ModelServer,
    http: requests.Session,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    response = http.post(f"{server.url}{path}", data=body, headers=headers)
    assert_json_error(response, status, words)


def test_chunked_body_over_the_limit_is_refused(
    server: ModelServer, http: requests.Session
) -> None:
    """Without a Content-Length the limit still holds while the body streams in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(ONE_MIB // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    response = http.post(f"{server.url}/predict", data=chunks(), headers=JSON_TYPE)
    assert_json_error(response, 413, "bytes")


def test_server_still_predicts_after_bad_input(server: ModelServer, http: requests.Session) -> None:
    response = http.post(f"{server.url}/predict", json={"text": "Still fine after all that."})
    assert response.status_code == 200
