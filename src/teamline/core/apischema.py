"""Building blocks for the JSON API's schemas, so the OpenAPI document says what the server
enforces (docs/api.md): text limits as minLength/maxLength/pattern, ids and numbers with
bounds, and every error status an operation can answer.

Every error body is {code, detail}. What each status means on every operation:

    400  the body is not JSON, is nested too deep, or an action refused it
    401  no valid token or session
    403  signed in, but your role may not do this
    404  the id (or something it refers to) does not exist or is outside your teams
    409  well formed, but the thing it acts on is not in a state that allows it now
    422  a parameter or the body does not match this schema (or holds NUL / lone surrogates)
    429  too many requests; retry after the Retry-After header
    503  the database is unavailable for a moment; retry after the Retry-After header
"""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

from .jsonsafe import NO_NUL_PATTERN, NOT_BLANK_PATTERN

# The largest id a database column holds (PostgreSQL bigint); anything above is a 422.
MAX_ID = 2**63 - 1
# List offsets: far beyond any real list, small enough that offset + limit never overflows.
MAX_OFFSET = 1_000_000_000

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Out(BaseModel):
    """An answer's schema whose data the presenters already built as dicts (or objects with
    plain attributes): validated by pydantic alone. ninja's `Schema` first wraps every object it
    validates in a getter that also looks for resolvers and related managers; for a page of 20
    conversations that cost 0.7 ms against 0.05 ms (docs/benchmarks.md, "The conversation list
    without ninja's getter"), on every list an agent's app reads. The OpenAPI document is the
    same."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(Schema):
    code: str = Field(description="Machine-readable: not_found, invalid, unauthenticated, …")
    detail: str = Field(description="What went wrong, for people.")


ERROR_DESCRIPTIONS = {
    400: "Not JSON, nested too deep, or refused by the action (see detail).",
    401: "No valid token or session.",
    403: "Your role may not do this.",
    404: "Not found, or outside your teams.",
    409: "Not possible in the current state (see detail).",
    422: "A parameter or the body does not match the schema.",
    429: "Too many requests: retry after Retry-After seconds.",
    503: "Temporarily unavailable: retry after Retry-After seconds.",
}

# Every operation may answer these: authentication, and the database being away (the
# middleware answers 503 before the operation runs).
ALWAYS = (401, 503)


def errors(*statuses: int) -> dict[int, Any]:
    """`response=` entries for the given error statuses (plus ALWAYS), all ErrorOut."""
    return dict.fromkeys(sorted({*ALWAYS, *statuses}), ErrorOut)


def text_field(
    *,
    max_length: int,
    min_length: int | None = None,
    blank: bool = False,
    default: Any = ...,
    description: str = "",
) -> Any:
    """A text field: at most max_length characters, never NUL or lone surrogates, and unless
    `blank`, with something other than whitespace in it (the server strips text)."""
    return Field(
        default,
        min_length=min_length if min_length is not None else (None if blank else 1),
        max_length=max_length,
        pattern=NO_NUL_PATTERN if blank else NOT_BLANK_PATTERN,
        description=description,
    )
