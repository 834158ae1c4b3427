"""Request and response shapes of the JSON API, validated with pydantic.

The same models give the JSON Schemas that ``/openapi.json`` publishes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from model_server.errors import ApiError, details_of, summary
from model_server.loading import Label

JSON_INVALID = "json_invalid"
_TAGS = frozenset({"single", "batch"})
_SHAPE_MESSAGE = 'the body must be a JSON object with a "text" string or a "texts" list of strings'


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text is empty or only whitespace")
    return text


ReviewText = Annotated[
    str,
    AfterValidator(_not_blank),
    Field(
        description="a review; must contain a non-space character",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},
    ),
]


class SingleReview(BaseModel):
    """Predict one review."""

    model_config = ConfigDict(extra="forbid")
    text: ReviewText


class ReviewBatch(BaseModel):
    """Predict several reviews in one call."""

    model_config = ConfigDict(extra="forbid")
    texts: list[ReviewText] = Field(min_length=1)


def _request_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "text" in value:
            return "single"
        if "texts" in value:
            return "batch"
    return None


PredictRequest = Annotated[
    Annotated[SingleReview, Tag("single")] | Annotated[ReviewBatch, Tag("batch")],
    Discriminator(
        _request_kind, custom_error_type="invalid_request", custom_error_message=_SHAPE_MESSAGE
    ),
]
PREDICT_REQUEST: TypeAdapter[SingleReview | ReviewBatch] = TypeAdapter(PredictRequest)


def parse_predict_request(body: str, max_batch_size: int) -> list[str]:
    """The texts of a ``/predict`` body; ``ApiError`` 400 (not JSON) or 422 (wrong shape)."""
    try:
        request = PREDICT_REQUEST.validate_json(body)
    except ValidationError as error:
        details = details_of(error, drop_first=_TAGS)
        if any(item["type"] == JSON_INVALID for item in error.errors()):
            raise ApiError(400, summary(details), details) from None
        raise ApiError(422, summary(details), details) from None
    texts = [request.text] if isinstance(request, SingleReview) else request.texts
    check_batch_size(len(texts), max_batch_size)
    return texts


def check_batch_size(count: int, max_batch_size: int) -> None:
    """Refuse a batch over the configured limit (422)."""
    if count > max_batch_size:
        raise ApiError(422, f"{count} texts is over the limit of {max_batch_size} per request")


def check_text_sizes(texts: list[str], max_chars: int, *, loc: str = "texts") -> None:
    """Refuse any text over the per-review limit (422, naming the first)."""
    for row, text in enumerate(texts):
        if len(text) > max_chars:
            raise ApiError(
                422,
                f"{loc}.{row}: {len(text)} characters is over the limit of {max_chars} per review",
            )


class ReviewPrediction(BaseModel):
    """The prediction for one text."""

    label: Label
    probability_positive: float = Field(ge=0.0, le=1.0)


class ModelRef(BaseModel):
    """The registered model (and version) that made a prediction."""

    name: str
    version: str


class PredictResponse(BaseModel):
    """Predictions in the order of the texts, and the model that made them."""

    model: ModelRef
    predictions: list[ReviewPrediction]


class InvocationsResponse(BaseModel):
    """What ``mlflow models serve`` answers: one predicted label per input row."""

    predictions: list[Label]


class Health(BaseModel):
    """The process is alive."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether this worker has loaded and warmed up its model."""

    status: Literal["ready", "loading"]
    model_name: str | None = None
    model_version: str | None = None


class Metadata(BaseModel):
    """The served model and the metrics logged in its MLflow run."""

    model_name: str
    model_version: str
    run_id: str
    model_uri: str = Field(description="the pinned URI that was loaded")
    metrics: dict[str, float]
