"""The Open Inference Protocol (v2) over REST: what KServe and Triton clients speak.

One model, the server's ``MODEL_NAME``: one BYTES input of shape ``[N]`` or ``[N, 1]``
(the reviews) and two outputs, ``label`` (BYTES, ``[N]``) and
``probability_positive`` (FP64, ``[N]``). Errors are the protocol's
``{"error": "..."}``: 404 for another model, 400 for a bad tensor.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model_server.errors import ApiError, details_of, summary

BYTES = "BYTES"
FP64 = "FP64"
LABEL_OUTPUT = "label"
PROBABILITY_OUTPUT = "probability_positive"
OUTPUTS = (LABEL_OUTPUT, PROBABILITY_OUTPUT)


class V2Error(Exception):
    """A request refused with the protocol's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TensorInput(BaseModel):
    """One input tensor of an inference request."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    """An output the client asks for (all of them when none is named)."""

    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}/infer``."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[TensorInput] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


def parse_inference(
    body: str, max_batch: int, max_chars: int
) -> tuple[InferenceRequest, list[str]]:
    """The request and its texts; ``V2Error`` 400 for anything but one BYTES tensor of text."""
    try:
        request = InferenceRequest.model_validate_json(body)
    except ValidationError as error:
        raise V2Error(400, summary(details_of(error))) from None
    if len(request.inputs) != 1:
        raise V2Error(400, f"expected exactly one input tensor, got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.datatype != BYTES:
        raise V2Error(400, f"input {tensor.name!r} must be BYTES, not {tensor.datatype}")
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 1:
        raise V2Error(400, f"input {tensor.name!r} must have shape [N] or [N, 1], not {shape}")
    data = tensor.data
    if len(shape) == 2 and all(isinstance(row, list) and len(row) == 1 for row in data):
        data = [row[0] for row in data]  # the nested form of an [N, 1] tensor
    if len(data) != shape[0]:
        raise V2Error(400, f"input {tensor.name!r} has {len(data)} elements, shape says {shape}")
    if shape[0] > max_batch:
        raise V2Error(400, f"{shape[0]} texts is over the limit of {max_batch} per request")
    for row, value in enumerate(data):
        if not isinstance(value, str) or not value.strip():
            raise V2Error(400, f"element {row} of {tensor.name!r} must be a non-blank string")
        if len(value) > max_chars:
            raise V2Error(400, f"element {row} is over the limit of {max_chars} characters")
    for output in request.outputs or ():
        if output.name not in OUTPUTS:
            raise V2Error(400, f"unknown output {output.name!r}; outputs: {', '.join(OUTPUTS)}")
    return request, list(data)


def inference_response(
    request: InferenceRequest,
    model_name: str,
    model_version: str,
    labels: list[str],
    probabilities: list[float],
) -> dict[str, Any]:
    """The protocol's response with the outputs the request asked for."""
    count = len(labels)
    tensors = {
        LABEL_OUTPUT: {"name": LABEL_OUTPUT, "datatype": BYTES, "shape": [count], "data": labels},
        PROBABILITY_OUTPUT: {
            "name": PROBABILITY_OUTPUT,
            "datatype": FP64,
            "shape": [count],
            "data": probabilities,
        },
    }
    wanted = [o.name for o in request.outputs] if request.outputs else list(OUTPUTS)
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": [tensors[name] for name in wanted],
    }
    if request.id is not None:
        response["id"] = request.id
    return response


def model_metadata(name: str, version: str, input_name: str) -> dict[str, Any]:
    """``GET /v2/models/{name}``."""
    return {
        "name": name,
        "versions": [version],
        "platform": "mlflow_sklearn",
        "inputs": [{"name": input_name, "datatype": BYTES, "shape": [-1]}],
        "outputs": [
            {"name": LABEL_OUTPUT, "datatype": BYTES, "shape": [-1]},
            {"name": PROBABILITY_OUTPUT, "datatype": FP64, "shape": [-1]},
        ],
    }


def as_v2(error: ApiError) -> V2Error:
    """A body-level refusal (size, media type, encoding) in the protocol's shape."""
    return V2Error(error.status, error.message)
