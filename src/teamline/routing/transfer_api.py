"""Transfers, reassignments and experts in the JSON API (mounted under /conversations).

Every path id goes through access_conversation (404 for anything outside the caller's teams,
whether or not it exists), every body id through an access helper of routing.transfers; who
may do what is decided by the actions (403 with a message for someone in scope but without the
role). Writes go through routing.transfers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import model_validator

from teamline.accounts.models import User
from teamline.conversations.models import Conversation
from teamline.conversations.presenters import present_conversation
from teamline.conversations.queries import access_conversation
from teamline.core.errors import Forbidden

from .models import ConversationParticipant
from .transfers import (
    access_expert,
    access_participant,
    access_team_member,
    access_transfer_agent,
    access_transfer_team,
    can_supervise,
    do_invite_expert,
    do_leave_conversation,
    do_reassign_conversation,
    do_transfer_conversation,
)

router = Router(tags=["routing"])

ConversationId = Annotated[int, Path(..., ge=1, le=2**63 - 1, description="The conversation's id.")]
UserId = Annotated[int, Path(..., ge=1, le=2**63 - 1, description="The expert's user id.")]


class ErrorOut(Schema):
    code: str = Field(description="Machine-readable: not_found, forbidden, invalid, …")
    detail: str = Field(description="What went wrong, for people.")


class Ref(Schema):
    id: int
    name: str


class RoutedConversationOut(Schema):
    id: int
    status: str
    team: Ref
    assignee: Ref | None
    customer: Ref
    waiting_since: datetime | None = Field(
        description="Set while it waits for an agent (a transfer keeps the original time)."
    )


class TransferIn(Schema):
    to_agent_id: int | None = Field(None, ge=1, description="Transfer to this agent.")
    to_team_id: int | None = Field(None, ge=1, description="Transfer to this team's queue.")
    to_skill: str | None = Field(
        None, min_length=1, max_length=50, description="Transfer to the queue of this skill."
    )
    note: str = Field(description="For whoever takes it next; stored as an internal note.")

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        targets = [self.to_agent_id, self.to_team_id, self.to_skill]
        if sum(target is not None for target in targets) != 1:
            raise ValueError("give exactly one of to_agent_id, to_team_id, to_skill")
        return self


class AssignIn(Schema):
    agent_id: int = Field(ge=1, description="A member of the conversation's team.")


class ExpertIn(Schema):
    user_id: int | None = Field(None, ge=1, description="Invite this person by name (id).")
    skill: str | None = Field(
        None, min_length=1, max_length=50, description="Invite the best available expert in it."
    )

    @model_validator(mode="after")
    def _one_way(self) -> ExpertIn:
        if (self.user_id is None) == (self.skill is None):
            raise ValueError("give exactly one of user_id, skill")
        return self


class ParticipantOut(Schema):
    conversation_id: int
    user: Ref
    role: str
    invited_by: Ref | None
    reason: str = Field(description='Why they were asked: "by name" or "skill <name>".')
    joined_at: datetime
    left_at: datetime | None


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    422: ErrorOut,
}


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


def _conversation(actor: User, conversation_id: int) -> dict[str, Any]:
    presented = present_conversation(access_conversation(actor, conversation_id))
    return {
        "id": presented["id"],
        "status": presented["status"],
        "team": presented["team"],
        "assignee": presented["assignee"],
        "customer": presented["customer"],
        "waiting_since": presented["waiting_since"],
    }


def _conversation_after(actor: User, conversation: Conversation) -> dict[str, Any]:
    """The conversation after the change, as the actor may still see it (a transfer to another
    team can take it out of their sight: then what the change made of it)."""
    fresh = Conversation.objects.select_related("team", "assignee", "customer").get(
        pk=conversation.pk
    )
    presented = present_conversation(fresh)
    return {key: presented[key] for key in RoutedConversationOut.model_fields}


def _participant(row: ConversationParticipant) -> dict[str, Any]:
    return {
        "conversation_id": row.conversation_id,
        "user": {"id": row.user_id, "name": row.user.name},
        "role": row.role,
        "invited_by": {"id": row.invited_by_id, "name": row.invited_by.name}
        if row.invited_by
        else None,
        "reason": row.reason,
        "joined_at": row.joined_at,
        "left_at": row.left_at,
    }


@router.post(
    "/{conversation_id}/transfer",
    response={200: RoutedConversationOut, **ERRORS},
    summary="Transfer a conversation",
    operation_id="transfer_conversation",
)
def transfer_conversation(
    request: HttpRequest, conversation_id: ConversationId, payload: TransferIn
) -> Any:
    """To an agent (now if they are free, else it waits for them, then for their team), a team
    (its queue, keeping the customer's place in line) or a skill queue, with a note. The
    assignee, a supervisor or an admin (any team member while it is unassigned)."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_transfer_conversation(
        conversation,
        actor=actor,
        to_agent=access_transfer_agent(actor, payload.to_agent_id)
        if payload.to_agent_id is not None
        else None,
        to_team=access_transfer_team(actor, payload.to_team_id)
        if payload.to_team_id is not None
        else None,
        to_skill=payload.to_skill,
        note=payload.note,
    )
    return _conversation_after(actor, conversation)


@router.post(
    "/{conversation_id}/assign",
    response={200: RoutedConversationOut, **ERRORS},
    summary="Reassign a conversation",
    operation_id="assign_conversation",
)
def assign_conversation(
    request: HttpRequest, conversation_id: ConversationId, payload: AssignIn
) -> Any:
    """Supervisors (of its team) and admins give the conversation to a member of its team,
    whatever their presence and load. 403 for other staff who can see it."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    if not can_supervise(actor, conversation):
        raise Forbidden("Only supervisors and admins can reassign conversations.")
    agent = access_team_member(actor, conversation, payload.agent_id)
    do_reassign_conversation(conversation, agent, actor=actor)
    return _conversation(actor, conversation_id)


@router.post(
    "/{conversation_id}/experts",
    response={201: ParticipantOut, **ERRORS},
    summary="Invite an expert",
    operation_id="invite_expert",
)
def invite_expert(request: HttpRequest, conversation_id: ConversationId, payload: ExpertIn) -> Any:
    """Pull someone available for expert requests into the conversation, by id or as the best
    available expert in a skill. They can read and write until they leave; the assignee keeps
    the conversation."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    expert = access_expert(actor, conversation, payload.user_id) if payload.user_id else None
    row = do_invite_expert(conversation, actor=actor, expert=expert, skill=payload.skill)
    return Status(201, _participant(row))


@router.delete(
    "/{conversation_id}/experts/{user_id}",
    response={200: ParticipantOut, **ERRORS},
    summary="An expert leaves",
    operation_id="remove_expert",
)
def remove_expert(request: HttpRequest, conversation_id: ConversationId, user_id: UserId) -> Any:
    """The expert leaves (their own id), or the assignee, whoever invited them, a supervisor or
    an admin takes them out. They lose access to the conversation."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    expert = access_participant(actor, conversation, user_id)
    return _participant(do_leave_conversation(conversation, actor=actor, expert=expert))
