"""``/invocations``: the request formats of ``mlflow models serve``, parsed by MLflow itself.

JSON bodies carry exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (plus optional ``params``, ignored: the Pipeline has
none); ``text/csv`` bodies are a DataFrame with a header. MLflow turns either into
a DataFrame or a dict of columns; this module takes the text column out of it.
"""

from __future__ import annotations

import csv
import json
import logging
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
import pydantic_core

from model_server.bodies import CSV, JSON
from model_server.errors import ApiError, ErrorDetail, summary
from model_server.loading import one_line

log = logging.getLogger(__name__)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_FORMAT_MESSAGE = "the body must be a JSON object with exactly one of " + ", ".join(FORMATS)


def invocation_texts(body: str, media_type: str, text_column: str, schema: Any) -> list[str]:
    """The texts of an ``/invocations`` body; ``ApiError`` 400 or 422 when it has none."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data, parse_csv_input

    data = None if media_type == CSV else _format_payload(body)
    try:
        if data is None:
            parsed = parse_csv_input(StringIO(body), schema=schema)
        else:
            parsed = infer_and_parse_data(data, schema)
    except Exception as error:  # MLflow and pandas raise many kinds on malformed input
        raise ApiError(422, f"cannot read the input as a table: {one_line(error)}") from None
    return _texts(_column(parsed, text_column), text_column)


def warm_up(text_column: str, schema: Any) -> None:
    """Parse one row as ``/invocations`` would, in this process (the gunicorn master,
    before it forks): MLflow's parsers and pandas' lazily built state then sit in pages
    every worker shares. Left to each worker's first ``/invocations``, they took ~18 MiB
    of private memory per worker."""
    row = {"dataframe_split": {"columns": [text_column], "data": [["warm up"]]}}
    try:
        invocation_texts(json.dumps(row), JSON, text_column, schema)
    except Exception as error:  # only a warm-up: the first request will say what is wrong
        log.info("/invocations parsers imported, the warm-up row refused: %s", one_line(error))


def check_csv_width(body: str, max_columns: int) -> None:
    """Refuse a CSV whose header is wider than ``max_columns`` before parsing it (422)."""
    try:
        header = next(csv.reader(StringIO(body[: 1 << 20])), [])
    except csv.Error as error:
        raise ApiError(422, f"cannot read the CSV header: {error}") from None
    if len(header) > max_columns:
        raise ApiError(422, f"the CSV has {len(header)} columns, over the limit of {max_columns}")


def _format_payload(body: str) -> dict[str, Any]:
    try:
        payload = pydantic_core.from_json(body)
    except ValueError as error:
        raise ApiError(400, f"invalid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(422, _FORMAT_MESSAGE)
    data = {key: value for key, value in payload.items() if key in FORMATS}
    if len(data) != 1:
        raise ApiError(422, f"{_FORMAT_MESSAGE}; got {sorted(payload)}")
    return data


def _column(parsed: Any, text_column: str) -> list[Any]:
    if isinstance(parsed, pd.DataFrame) and text_column in parsed.columns:
        values: Any = parsed[text_column]
    elif isinstance(parsed, dict) and text_column in parsed:
        values = parsed[text_column]
    else:
        raise ApiError(422, f"the input has no {text_column!r} column")
    try:
        array = np.asarray(values, dtype=object)
    except ValueError as error:
        raise ApiError(422, f"the {text_column!r} column is not a list: {error}") from None
    if array.ndim > 1:
        raise ApiError(422, f"the {text_column!r} column must be a flat list of texts")
    return list(array.reshape(-1))


def _texts(values: list[Any], text_column: str) -> list[str]:
    details = [
        ErrorDetail(loc=f"{text_column}.{row}", message=problem)
        for row, value in enumerate(values)
        if (problem := _text_problem(value))
    ]
    if details:
        raise ApiError(422, summary(details), details)
    if not values:
        raise ApiError(422, "the input has no rows")
    return [str(value) for value in values]


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value.strip():
        return "text is empty or only whitespace"
    return None
