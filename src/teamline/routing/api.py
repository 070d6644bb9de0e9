"""Routing in the JSON API.

- Callbacks and appointments (/api/v1/callbacks, /api/v1/appointments): every path id goes
  through access_callback / access_appointment (scoped by the actor's teams: NotFound → 404
  otherwise, whether or not it exists); writes go through routing.callbacks and
  routing.appointments, "Call now" (…/dial) through calls.dialout.
- Transfers, reassignment and experts (mounted under /api/v1/conversations): every path id goes
  through access_conversation, every body id through an access helper of routing.transfers; who
  may do what is decided by the actions (403 with a message for someone in scope but without
  the role). Writes go through routing.transfers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from ninja import Body, Field, Path, Query, Router, Schema, Status
from pydantic import AwareDatetime, ConfigDict

from teamline.accounts.models import User
from teamline.calls import dialout
from teamline.calls.events import present_call
from teamline.conversations.models import Conversation, ConversationParticipant
from teamline.conversations.presenters import present_conversation
from teamline.conversations.queries import access_conversation
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.errors import Forbidden, NotFound
from teamline.teams.models import Team
from teamline.teams.queries import access_team, team_ids_for

from . import appointments, callbacks, scheduling
from .appointments import access_appointment
from .callbacks import access_callback
from .models import Appointment, AppointmentState, Callback
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

callbacks_router = Router(tags=["callbacks"])
transfers_router = Router(tags=["routing"])
appointments_router = Router(tags=["appointments"])

ObjectId = Annotated[int, Path(..., ge=1, le=MAX_ID)]

# Reads: a bad id or filter is a 422, an id outside your teams a 404.
READ_ERRORS = errors(404, 422)
# Writes: also a body that is not JSON / refused by the action (400), a state that does not
# allow it (409), and the role check (403).
ERRORS = errors(400, 404, 409, 422)
WORK_ERRORS = errors(400, 403, 404, 409, 422)

# The shape of a phone number: E.164 ("+4791234567") or national digits with the usual
# separators. Whether the number exists in its country's numbering plan ("format": "phone")
# is checked by the server with the ITU plan data (phonenumbers): a 400 if not.
PHONE_PATTERN = r"^\+?[0-9][0-9 ().-]{2,38}$"


class CallbackIn(Schema):
    conversation_id: int = Field(ge=1, le=MAX_ID, description="The waiting conversation.")
    phone: str = Field(
        max_length=40,
        pattern=PHONE_PATTERN,
        json_schema_extra={"format": "phone"},
        description="The number to call: E.164, or national for the team's country; valid in "
        "its numbering plan.",
    )


class CallbackOut(Schema):
    id: int
    conversation_id: int
    phone: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    requested_at: datetime


class DialledCallOut(Schema):
    """The outbound phone call "Call now" opened (its later states: the call.updated event)."""

    id: int
    conversation_id: int
    customer_id: int
    medium: str
    direction: str
    state: str
    agent_id: int | None
    created_at: datetime


class TeamRef(Schema):
    id: int
    name: str


class AppointmentOut(Schema):
    id: int
    kind: str
    state: str
    slot_start: datetime
    slot_end: datetime
    phone: str
    team: TeamRef
    agent: str | None


class SlotOut(Schema):
    start: datetime
    end: datetime
    available: int


class SlotsOut(Schema):
    team: TeamRef
    timezone: str
    slot_minutes: int
    slots: list[SlotOut]


class AppointmentFilters(Schema):
    state: Literal["booked", "started", "done", "no_show", "cancelled"] | None = None
    team_id: int | None = Field(None, ge=1, le=MAX_ID)


class SlotFilters(Schema):
    team_id: int = Field(ge=1, le=MAX_ID)


class RescheduleIn(Schema):
    slot_start: AwareDatetime


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


def _may_work(actor: User, assignee_id: int | None, team: Team) -> None:
    """A call's outcome is recorded by the agent on the call, a supervisor of the team or an
    admin (others of the team see it, but may not close somebody else's call)."""
    scheduling.check_may_record_outcome(actor, assignee_id, team)


# --- Callbacks ------------------------------------------------------------------------------


@callbacks_router.post(
    "",
    response={201: CallbackOut, **WORK_ERRORS},
    summary="Request a callback for a waiting customer",
    operation_id="request_callback",
)
def request_callback(request: HttpRequest, payload: CallbackIn) -> Any:
    """On the customer's behalf: they keep their place in line and are called back."""
    actor = _actor(request)
    conversation = access_conversation(actor, payload.conversation_id)
    callback = callbacks.do_request_callback(conversation, payload.phone, actor=actor)
    return Status(201, callbacks.present_callback(callback, actor))


@callbacks_router.get(
    "/{callback_id}",
    response={200: CallbackOut, **READ_ERRORS},
    summary="Get a callback",
    operation_id="get_callback",
)
def get_callback(request: HttpRequest, callback_id: ObjectId) -> Any:
    """One callback of a conversation in your teams; 404 otherwise."""
    actor = _actor(request)
    return callbacks.present_callback(access_callback(actor, callback_id), actor)


def _callback_outcome(request: HttpRequest, callback_id: int, answered: bool) -> Any:
    actor = _actor(request)
    callback: Callback = access_callback(actor, callback_id)
    _may_work(actor, callback.conversation.assignee_id, callback.conversation.team)
    if answered:
        callback = callbacks.do_complete_callback(callback, actor=actor)
    else:
        callback = callbacks.do_callback_no_answer(callback, actor=actor)
    return callbacks.present_callback(callback, _actor(request))


@callbacks_router.post(
    "/{callback_id}/done",
    response={200: CallbackOut, **WORK_ERRORS},
    summary="Call done",
    operation_id="callback_done",
)
def callback_done(request: HttpRequest, callback_id: ObjectId) -> Any:
    """The customer was reached: the callback is done and its conversation resolved."""
    return _callback_outcome(request, callback_id, True)


@callbacks_router.post(
    "/{callback_id}/no-answer",
    response={200: CallbackOut, **WORK_ERRORS},
    summary="No answer",
    operation_id="callback_no_answer",
)
def callback_no_answer(request: HttpRequest, callback_id: ObjectId) -> Any:
    """Nobody answered: called again 10 minutes later (twice), then closed with a message."""
    return _callback_outcome(request, callback_id, False)


@callbacks_router.post(
    "/{callback_id}/dial",
    response={201: DialledCallOut, **WORK_ERRORS},
    summary="Call now",
    operation_id="dial_callback",
)
def dial_callback(request: HttpRequest, callback_id: ObjectId) -> Any:
    """Teamline calls the customer back through the voice provider: your phone rings first,
    then the customer's (docs/channels/voice.md). Only the agent the callback is with (403);
    409 while a call with the customer is under way; 400 when you have no phone number, the
    team no voice inbox, or the provider is down or refuses (nothing is dialled then)."""
    actor = _actor(request)
    callback: Callback = access_callback(actor, callback_id)
    return Status(201, present_call(dialout.do_dial_callback(callback, actor=actor)))


# --- Appointments ---------------------------------------------------------------------------


@appointments_router.get(
    "",
    response={200: list[AppointmentOut], **READ_ERRORS},
    summary="List appointments of my teams",
    operation_id="list_appointments",
)
def list_appointments(request: HttpRequest, filters: Query[AppointmentFilters]) -> Any:
    """Bookings of the teams you work in or supervise (admins: every team), by slot."""
    actor = _actor(request)
    teams = team_ids_for(actor)
    if filters.team_id is not None:
        if filters.team_id not in teams:
            raise NotFound("No such team.")
        teams = [filters.team_id]
    states = (filters.state,) if filters.state else None
    rows = appointments.teams_appointments(teams, states=states)[:500]
    return [appointments.present_appointment(row, _actor(request)) for row in rows]


@appointments_router.get(
    "/slots",
    response={200: SlotsOut, **READ_ERRORS},
    summary="Bookable slots of a team",
    operation_id="list_slots",
)
def list_slots(request: HttpRequest, filters: Query[SlotFilters]) -> Any:
    """The next 7 days' slots with a free seat (see docs/routing.md, scheduled contacts)."""
    team = access_team(_actor(request), filters.team_id)
    return {
        "team": {"id": team.pk, "name": team.name},
        "timezone": team.timezone,
        "slot_minutes": appointments.slot_minutes(),
        "slots": [appointments.present_slot(s) for s in appointments.available_slots(team)],
    }


@appointments_router.get(
    "/{appointment_id}",
    response={200: AppointmentOut, **READ_ERRORS},
    summary="Get an appointment",
    operation_id="get_appointment",
)
def get_appointment(request: HttpRequest, appointment_id: ObjectId) -> Any:
    """One booking of your teams; 404 otherwise."""
    actor = _actor(request)
    return appointments.present_appointment(access_appointment(actor, appointment_id), actor)


@appointments_router.post(
    "/{appointment_id}/cancel",
    response={200: AppointmentOut, **ERRORS},
    summary="Cancel an appointment",
    operation_id="cancel_appointment",
)
def cancel_appointment(request: HttpRequest, appointment_id: ObjectId) -> Any:
    """Cancel a booking (booked or in progress): its seat is free again."""
    actor = _actor(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    appointment = appointments.do_cancel_appointment(appointment, actor=actor, by="staff")
    return appointments.present_appointment(appointment, _actor(request))


@appointments_router.post(
    "/{appointment_id}/reschedule",
    response={200: AppointmentOut, **ERRORS},
    summary="Move an appointment to another slot",
    operation_id="reschedule_appointment",
)
def reschedule_appointment(
    request: HttpRequest, appointment_id: ObjectId, payload: RescheduleIn
) -> Any:
    """Move a booking that has not started to another free slot (409 when just taken)."""
    actor = _actor(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    appointment = appointments.do_reschedule_appointment(
        appointment, payload.slot_start, actor=actor, by="staff"
    )
    return appointments.present_appointment(appointment, _actor(request))


@appointments_router.post(
    "/{appointment_id}/no-answer",
    response={200: AppointmentOut, **WORK_ERRORS},
    summary="No answer (call appointment)",
    operation_id="appointment_no_answer",
)
def appointment_no_answer(request: HttpRequest, appointment_id: ObjectId) -> Any:
    """Tried again a few minutes later until the grace period ends; then a no-show."""
    actor = _actor(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    if appointment.state != AppointmentState.STARTED or appointment.conversation is None:
        raise NotFound("This appointment is not in progress.")
    _may_work(actor, appointment.conversation.assignee_id, appointment.team)
    appointment = appointments.do_appointment_no_answer(appointment, actor=actor)
    return appointments.present_appointment(appointment, _actor(request))


@appointments_router.post(
    "/{appointment_id}/dial",
    response={201: DialledCallOut, **WORK_ERRORS},
    summary="Call now (call appointment)",
    operation_id="dial_appointment",
)
def dial_appointment(request: HttpRequest, appointment_id: ObjectId) -> Any:
    """A booked call whose slot has started is dialled out like a callback: your phone, then
    the booked number. Only the agent routing gave it to (403); 409 before its start or after
    its end, or while a call is under way."""
    actor = _actor(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    return Status(201, present_call(dialout.do_dial_appointment(appointment, actor=actor)))


ConversationId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The conversation's id.")]
UserId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The expert's user id.")]


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


# The note is stored as "Transfer to <target>: <note>", within a message's 10,000 characters.
MAX_TRANSFER_NOTE = 9_000


def _note() -> Any:
    return text_field(
        max_length=MAX_TRANSFER_NOTE,
        description="For whoever takes it next (1-9,000 characters); stored as an internal note.",
    )


def _skill(description: str) -> Any:
    return text_field(max_length=50, description=description)


# "Exactly one target" in the schema: one shape per target, each closed to the others'
# fields, so a body naming two targets matches no shape (422) for the server as for a client.
class TransferToAgentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    to_agent_id: int = Field(ge=1, le=MAX_ID, description="Transfer to this agent.")
    note: str = _note()


class TransferToTeamIn(Schema):
    model_config = ConfigDict(extra="forbid")
    to_team_id: int = Field(ge=1, le=MAX_ID, description="Transfer to this team's queue.")
    note: str = _note()


class TransferToSkillIn(Schema):
    model_config = ConfigDict(extra="forbid")
    to_skill: str = _skill("Transfer to the queue of this skill.")
    note: str = _note()


TransferIn = TransferToAgentIn | TransferToTeamIn | TransferToSkillIn


class AssignIn(Schema):
    agent_id: int = Field(ge=1, le=MAX_ID, description="A member of the conversation's team.")


class ExpertByIdIn(Schema):
    model_config = ConfigDict(extra="forbid")
    user_id: int = Field(ge=1, le=MAX_ID, description="Invite this person by name (id).")


class ExpertBySkillIn(Schema):
    model_config = ConfigDict(extra="forbid")
    skill: str = _skill("Invite the best available expert in it.")


ExpertIn = ExpertByIdIn | ExpertBySkillIn


class ParticipantOut(Schema):
    conversation_id: int
    user: Ref
    role: str
    invited_by: Ref | None
    reason: str = Field(description='Why they were asked: "by name" or "skill <name>".')
    joined_at: datetime
    left_at: datetime | None


def _conversation(actor: User, conversation_id: int) -> dict[str, Any]:
    presented = present_conversation(access_conversation(actor, conversation_id), actor)
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
    presented = present_conversation(fresh, actor)
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


@transfers_router.post(
    "/{conversation_id}/transfer",
    response={200: RoutedConversationOut, **WORK_ERRORS},
    summary="Transfer a conversation",
    operation_id="transfer_conversation",
)
def transfer_conversation(
    request: HttpRequest, conversation_id: ConversationId, payload: Annotated[TransferIn, Body()]
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
        if isinstance(payload, TransferToAgentIn)
        else None,
        to_team=access_transfer_team(actor, payload.to_team_id)
        if isinstance(payload, TransferToTeamIn)
        else None,
        to_skill=payload.to_skill if isinstance(payload, TransferToSkillIn) else None,
        note=payload.note,
    )
    return _conversation_after(actor, conversation)


@transfers_router.post(
    "/{conversation_id}/assign",
    response={200: RoutedConversationOut, **WORK_ERRORS},
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


@transfers_router.post(
    "/{conversation_id}/experts",
    response={201: ParticipantOut, **WORK_ERRORS},
    summary="Invite an expert",
    operation_id="invite_expert",
)
def invite_expert(
    request: HttpRequest, conversation_id: ConversationId, payload: Annotated[ExpertIn, Body()]
) -> Any:
    """Pull someone available for expert requests into the conversation, by id or as the best
    available expert in a skill. They can read and write until they leave; the assignee keeps
    the conversation."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    if isinstance(payload, ExpertByIdIn):
        expert = access_expert(actor, conversation, payload.user_id)
        row = do_invite_expert(conversation, actor=actor, expert=expert, skill=None)
    else:
        row = do_invite_expert(conversation, actor=actor, expert=None, skill=payload.skill)
    return Status(201, _participant(row))


@transfers_router.delete(
    "/{conversation_id}/experts/{user_id}",
    response={200: ParticipantOut, **WORK_ERRORS},
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
