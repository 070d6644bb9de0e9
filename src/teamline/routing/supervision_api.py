"""Supervising a conversation in the JSON API (mounted under /api/v1/conversations):
whisper to its agent, barge in, take it over (docs/desk.md, "Supervising conversations").

Every path id goes through access_conversation (404 outside the actor's teams), then the
supervisor rule (403 for an agent who can see it); writes go through conversations.supervision
and routing.supervision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from teamline.accounts.models import User
from teamline.conversations.actions import MAX_TEXT
from teamline.conversations.api import MessageOut
from teamline.conversations.models import Conversation
from teamline.conversations.presenters import present_conversation, present_message
from teamline.conversations.supervision import (
    access_supervised_conversation,
    do_barge_in,
    do_whisper,
    present_whisper,
)
from teamline.core.apischema import MAX_ID, errors, text_field

from .supervision import do_take_over_conversation

router = Router(tags=["supervision"])

ConversationId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The conversation's id.")]
# 400: refused by the action; 403: not a supervisor of its team; 404: outside your teams;
# 409: nobody to whisper to, resolved, already yours; 422: a body that breaks the schema.
ERRORS = errors(400, 403, 404, 409, 422)


class PartyRef(Schema):
    id: int | None
    name: str


class WhisperIn(Schema):
    text: str = text_field(
        max_length=MAX_TEXT,
        description="The whisper (1-10,000 characters): only the assigned agent and the team's "
        "supervisors see it.",
    )


class WhisperOut(Schema):
    id: int
    conversation_id: int
    author: PartyRef
    agent: PartyRef = Field(description="The agent it was whispered to (the assignee then).")
    text: str
    created_at: datetime


class BargeIn(Schema):
    text: str = text_field(max_length=MAX_TEXT, description="The message to the customer.")
    client_id: str | None = text_field(
        default=None,
        max_length=64,
        blank=True,
        min_length=1,
        description="Your id for this message: a retry with the same id returns the same message.",
    )


class TakenOverOut(Schema):
    id: int
    status: str
    team: PartyRef
    assignee: PartyRef | None = Field(description="You, after taking it over.")
    customer: PartyRef


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


@router.post(
    "/{conversation_id}/whisper",
    response={201: WhisperOut, **ERRORS},
    summary="Whisper to the conversation's agent",
    operation_id="whisper_to_agent",
)
def whisper(request: HttpRequest, conversation_id: ConversationId, payload: WhisperIn) -> Any:
    """A supervisor of the conversation's team (or an admin) writes a note that only the
    assigned agent, the team's supervisors and admins see: never the customer, never the team's
    other agents, never a connector. 409 when nobody is assigned."""
    actor = _actor(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    return Status(201, present_whisper(do_whisper(conversation, payload.text, actor=actor)))


@router.post(
    "/{conversation_id}/barge",
    response={200: MessageOut, 201: MessageOut, **ERRORS},
    summary="Barge in: write to the customer as a supervisor",
    operation_id="barge_in",
)
def barge(request: HttpRequest, conversation_id: ConversationId, payload: BargeIn) -> Any:
    """A supervisor joins the conversation and writes to the customer: delivered like any reply
    on the customer's channel, authored by the supervisor; the agent stays assigned and is told.
    201 when sent, 200 for a retry with the same client_id."""
    actor = _actor(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    message, created = do_barge_in(
        conversation, payload.text, actor=actor, client_id=payload.client_id or None
    )
    return Status(201 if created else 200, present_message(message, actor))


@router.post(
    "/{conversation_id}/takeover",
    response={200: TakenOverOut, **ERRORS},
    summary="Take a conversation over",
    operation_id="take_over_conversation",
)
def takeover(request: HttpRequest, conversation_id: ConversationId) -> Any:
    """A supervisor of the conversation's team (or an admin) becomes its assignee, whatever
    their presence and load; the agent who had it is told and offered waiting work. 409 when
    it is resolved or already yours."""
    actor = _actor(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    conversation = do_take_over_conversation(conversation, actor=actor)
    presented = present_conversation(
        Conversation.objects.select_related("team", "customer", "assignee").get(pk=conversation.pk),
        actor,
    )
    return {key: presented[key] for key in TakenOverOut.model_fields}
