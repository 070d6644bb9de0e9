"""Surveys in the JSON API (docs/surveys.md):

- `GET /api/v1/surveys/responses?from=…&to=…&team=…` — answers on conversations you may see,
  newest first (at most `limit`, keyset paging by `before`);
- `GET /api/v1/conversations/{id}/survey` — the conversation's survey: sent, answered (with
  the answer) or not sent (with why); 404 when it has none or you may not see it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from pydantic import AwareDatetime, field_validator

from teamline.accounts.models import User
from teamline.conversations.queries import access_conversation
from teamline.core.apischema import MAX_ID, errors
from teamline.core.errors import InvalidInput, NotFound

from .queries import present_response, survey_of_conversation, visible_responses

router = Router(tags=["surveys"])
conversation_router = Router(tags=["surveys"])

MAX_LIMIT = 500


class ResponseOut(Schema):
    id: int
    conversation_id: int
    customer_id: int
    team_id: int
    kind: str = Field(description="csat (1–5) or nps (0–10).")
    score: int
    comment: str
    channel: str = Field(description="Where the customer answered: webchat, sms, whatsapp, …")
    created_at: datetime


class ResponsePageOut(Schema):
    responses: list[ResponseOut]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


# An ISO 8601 moment with its offset: 2026-12-05T10:00:00Z, 2026-12-05T11:00:00+01:00.
ISO_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
)


class ResponseParams(Schema):
    since: AwareDatetime | None = Field(
        None, alias="from", description="From this moment (ISO 8601 with a UTC offset)."
    )
    until: AwareDatetime | None = Field(
        None, alias="to", description="Until this moment, excluded."
    )
    team: int | None = Field(None, ge=1, le=MAX_ID, description="One team's answers.")
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    before: int | None = Field(None, ge=1, le=MAX_ID, description="A page's `next_before`.")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_only(cls, value: Any) -> Any:
        # pydantic would also read a bare number as seconds since 1970; a filter means a date.
        if value is not None and not ISO_MOMENT.match(str(value)):
            raise ValueError("an ISO 8601 moment such as 2026-12-05T10:00:00Z")
        return value


class SurveyOut(Schema):
    kind: str
    state: str = Field(description="sent, answered or skipped (not sent: see reason).")
    reason: str
    channel: str
    sent_at: datetime | None
    response: ResponseOut | None


@router.get(
    "/responses",
    response={200: ResponsePageOut, **errors(400, 422)},
    summary="List survey answers",
    operation_id="list_survey_responses",
)
def list_responses(request: HttpRequest, params: Query[ResponseParams]) -> Any:
    """Answers on the conversations you may see (your teams; admins all), newest first."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    if params.since and params.until and params.since >= params.until:
        raise InvalidInput("`from` must be before `to`.")
    found = visible_responses(actor, since=params.since, until=params.until, team_id=params.team)
    if params.before is not None:
        found = found.filter(pk__lt=params.before)
    rows = list(found.order_by("-pk")[: params.limit + 1])
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return {
        "responses": [present_response(r) for r in rows],
        "next_before": rows[-1].pk if more else None,
    }


ConversationId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The conversation's id.")]


@conversation_router.get(
    "/{conversation_id}/survey",
    response={200: SurveyOut, **errors(404, 422)},
    summary="A conversation's survey and its answer",
    operation_id="get_conversation_survey",
)
def conversation_survey(request: HttpRequest, conversation_id: ConversationId) -> Any:
    """The survey sent after the conversation was resolved (or why none was sent) and the
    customer's answer if they gave one; 404 when no survey was due."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    conversation = access_conversation(actor, conversation_id)
    found = survey_of_conversation(conversation)
    if found is None:
        raise NotFound("This conversation has no survey.")
    return found
