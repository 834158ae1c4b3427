"""The OpenAPI 3.1 document of the server, built from the pydantic schemas."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from model_server.errors import ErrorBody
from model_server.schemas import (
    Health,
    InvocationsResponse,
    Metadata,
    PredictResponse,
    Readiness,
    ReviewBatch,
    SingleReview,
)

REF = "#/components/schemas/{model}"
_MODELS: tuple[type[BaseModel], ...] = (
    SingleReview,
    ReviewBatch,
    PredictResponse,
    InvocationsResponse,
    Health,
    Readiness,
    Metadata,
    ErrorBody,
)
_INVOCATIONS_REQUEST: dict[str, Any] = {
    "description": "The JSON formats of `mlflow models serve`: exactly one of these keys.",
    "type": "object",
    "oneOf": [
        {"required": ["dataframe_split"]},
        {"required": ["dataframe_records"]},
        {"required": ["instances"]},
        {"required": ["inputs"]},
    ],
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {"columns": {"type": "array"}, "data": {"type": "array"}},
            "required": ["data"],
        },
        "dataframe_records": {"type": "array", "items": {"type": "object"}},
        "instances": {"type": "array"},
        "inputs": {"type": ["array", "object"]},
        "params": {"type": "object", "description": "accepted and ignored"},
    },
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "not JSON, or not UTF-8",
        413: "body over the size limit",
        415: "wrong Content-Type",
        422: "valid JSON of the wrong shape, or a batch over the limit",
        503: "the model is still loading",
    }
    return {str(code): _json(_ref(ErrorBody), reasons[code]) for code in statuses}


def openapi_document(max_batch_size: int, max_body_bytes: int) -> dict[str, Any]:
    """The API description, with this server's batch and body limits in it."""
    _, definitions = models_json_schema(
        [
            (model, "serialization" if "Response" in model.__name__ else "validation")
            for model in _MODELS
        ],
        ref_template=REF,
    )
    schemas: dict[str, Any] = definitions["$defs"]
    schemas["ReviewBatch"]["properties"]["texts"]["maxItems"] = max_batch_size
    schemas["PredictRequest"] = {"oneOf": [_ref(SingleReview), _ref(ReviewBatch)]}
    schemas["InvocationsRequest"] = _INVOCATIONS_REQUEST
    limits = f"Bodies are limited to {max_body_bytes} bytes and {max_batch_size} texts."
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sentiment model server",
            "version": _package_version(),
            "description": "Movie-review sentiment from a model in the MLflow Model Registry. "
            + limits,
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Label reviews positive or negative",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref_name("PredictRequest")}},
                    },
                    "responses": {
                        "200": _json(_ref(PredictResponse), "one prediction per text, in order"),
                        **_errors(400, 413, 415, 422, 503),
                    },
                }
            },
            "/invocations": {
                "post": {
                    "summary": "Predict in the request format of `mlflow models serve`",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref_name("InvocationsRequest")},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": _json(_ref(InvocationsResponse), "one label per input row"),
                        **_errors(400, 413, 415, 422, 503),
                    },
                }
            },
            "/healthz": {"get": _get("Liveness: the process answers", _ref(Health))},
            "/readyz": {
                "get": {
                    **_get("Readiness: the model is loaded and warmed up", _ref(Readiness)),
                    "responses": {
                        "200": _json(_ref(Readiness), "ready"),
                        "503": _json(_ref(Readiness), "still loading"),
                    },
                }
            },
            "/metadata": {
                "get": {
                    **_get("The served model, its run and logged metrics", _ref(Metadata)),
                    "responses": {
                        "200": _json(_ref(Metadata), "the model"),
                        **_errors(503),
                    },
                }
            },
            "/metrics": {"get": _plain("Prometheus metrics of all workers", "text/plain")},
            "/openapi.json": {"get": _get("This document", {"type": "object"})},
            "/": {
                "get": _plain("A page to try the model", "text/html"),
                "post": {
                    "summary": "The page's form (no JavaScript needed): the page with the answer",
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"text": {"type": "string"}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                },
            },
            **_v2_paths(),
        },
        "components": {"schemas": schemas},
    }


_V2_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_TENSOR = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
    },
    "required": ["name", "shape", "datatype", "data"],
}


def _v2_paths() -> dict[str, Any]:
    """The Open Inference Protocol (v2) routes; ``{name}`` is the served model's name."""
    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    obj = {"type": "object"}
    unknown = {"404": _json(_V2_ERROR, "another model")}
    return {
        "/v2": {"get": _get("Open Inference Protocol: server metadata", obj)},
        "/v2/health/live": {"get": _get("Open Inference Protocol: live", obj)},
        "/v2/health/ready": {"get": _get("Open Inference Protocol: ready", obj)},
        "/v2/models/{name}": {
            "get": {
                "summary": "Model metadata: one BYTES input, label (BYTES) and probability (FP64)",
                "parameters": name,
                "responses": {"200": _json(obj, "the model"), **unknown},
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "Model readiness",
                "parameters": name,
                "responses": {"200": _json(obj, "ready"), **unknown},
            }
        },
        "/v2/models/{name}/infer": {
            "post": {
                "summary": "Inference: one BYTES tensor of reviews, shape [N] or [N, 1]",
                "parameters": name,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "inputs": {"type": "array", "items": _TENSOR},
                                    "outputs": {"type": "array", "items": obj},
                                },
                                "required": ["inputs"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(obj, "label and probability_positive tensors"),
                    "400": _json(_V2_ERROR, "not one BYTES tensor of texts"),
                    **unknown,
                },
            }
        },
    }


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _get(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": _json(schema, "OK")}}


def _plain(summary: str, media_type: str) -> dict[str, Any]:
    content = {media_type: {"schema": {"type": "string"}}}
    return {"summary": summary, "responses": {"200": {"description": "OK", "content": content}}}


def _package_version() -> str:
    try:
        return metadata.version("sentiment-operator")
    except metadata.PackageNotFoundError:
        return "0.0.0"
