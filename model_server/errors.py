"""Client errors with a status code and a JSON body saying what is wrong."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field, ValidationError


class ErrorDetail(BaseModel):
    """One problem in the request, located by a dotted path into the JSON body."""

    loc: str = Field(description="where in the body, e.g. `texts.3`; empty for the whole body")
    message: str


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: str = Field(description="the HTTP reason phrase, e.g. `Unprocessable Content`")
    message: str = Field(description="what is wrong, in one sentence")
    details: list[ErrorDetail] = Field(default_factory=list)


class ApiError(Exception):
    """A request the server refuses; ``status`` is a 4xx (or 503 while loading)."""

    def __init__(self, status: int, message: str, details: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)


def details_of(
    error: ValidationError, *, drop_first: frozenset[str] = frozenset()
) -> list[ErrorDetail]:
    """Pydantic's errors as ``ErrorDetail``s, without union tags (``drop_first``) in locations."""
    details = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        loc = list(item["loc"])
        if loc and loc[0] in drop_first:
            loc = loc[1:]
        details.append(ErrorDetail(loc=".".join(str(part) for part in loc), message=item["msg"]))
    return details


def summary(details: Sequence[ErrorDetail]) -> str:
    """A one-sentence message naming the first problem (and how many more there are)."""
    if not details:
        return "invalid request"
    first = details[0]
    text = f"{first.loc}: {first.message}" if first.loc else first.message
    more = len(details) - 1
    return text if more == 0 else f"{text} (and {more} more problem{'s' if more > 1 else ''})"
