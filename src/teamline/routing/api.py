"""Callbacks and appointments in the JSON API (/api/v1/callbacks, /api/v1/appointments).

Every path id goes through access_callback / access_appointment (scoped by the actor's teams:
NotFound → 404 otherwise, whether or not it exists); writes go through routing.scheduling.
(Transfers and experts live in routing/transfer_api.py.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import AwareDatetime

from teamline.accounts.models import User
from teamline.conversations.queries import access_conversation
from teamline.core.errors import NotFound
from teamline.teams.models import Team
from teamline.teams.queries import team_ids_for

from . import scheduling
from .models import Appointment, AppointmentState, Callback
from .queries import access_appointment, access_callback

callbacks_router = Router(tags=["callbacks"])
appointments_router = Router(tags=["appointments"])

ObjectId = Annotated[int, Path(..., ge=1, le=2**63 - 1)]


class ErrorOut(Schema):
    code: str
    detail: str


ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WORK_ERRORS: dict[int, type[Schema]] = {**ERRORS, 403: ErrorOut}


class CallbackIn(Schema):
    conversation_id: int = Field(ge=1, le=2**63 - 1, description="The waiting conversation.")
    phone: str = Field(max_length=40, description="The number to call (E.164, or national).")


class CallbackOut(Schema):
    id: int
    conversation_id: int
    phone: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    requested_at: datetime


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
    team_id: int | None = Field(None, ge=1, le=2**63 - 1)


class SlotFilters(Schema):
    team_id: int = Field(ge=1, le=2**63 - 1)


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
    callback = scheduling.do_request_callback(conversation, payload.phone, actor=actor)
    return Status(201, scheduling.present_callback(callback))


@callbacks_router.get(
    "/{callback_id}",
    response={200: CallbackOut, **ERRORS},
    summary="Get a callback",
    operation_id="get_callback",
)
def get_callback(request: HttpRequest, callback_id: ObjectId) -> Any:
    """One callback of a conversation in your teams; 404 otherwise."""
    return scheduling.present_callback(access_callback(_actor(request), callback_id))


def _callback_outcome(request: HttpRequest, callback_id: int, answered: bool) -> Any:
    actor = _actor(request)
    callback: Callback = access_callback(actor, callback_id)
    _may_work(actor, callback.conversation.assignee_id, callback.conversation.team)
    if answered:
        callback = scheduling.do_complete_callback(callback, actor=actor)
    else:
        callback = scheduling.do_callback_no_answer(callback, actor=actor)
    return scheduling.present_callback(callback)


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


# --- Appointments ---------------------------------------------------------------------------


@appointments_router.get(
    "",
    response={200: list[AppointmentOut], **ERRORS},
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
    rows = scheduling.teams_appointments(teams, states=states)[:500]
    return [scheduling.present_appointment(row) for row in rows]


@appointments_router.get(
    "/slots",
    response={200: SlotsOut, **ERRORS},
    summary="Bookable slots of a team",
    operation_id="list_slots",
)
def list_slots(request: HttpRequest, filters: Query[SlotFilters]) -> Any:
    """The next 7 days' slots with a free seat (see docs/routing.md, scheduled contacts)."""
    actor = _actor(request)
    if filters.team_id not in team_ids_for(actor):
        raise NotFound("No such team.")
    team = Team.objects.get(pk=filters.team_id)
    return {
        "team": {"id": team.pk, "name": team.name},
        "timezone": team.timezone,
        "slot_minutes": scheduling.slot_minutes(),
        "slots": [scheduling.present_slot(s) for s in scheduling.available_slots(team)],
    }


@appointments_router.get(
    "/{appointment_id}",
    response={200: AppointmentOut, **ERRORS},
    summary="Get an appointment",
    operation_id="get_appointment",
)
def get_appointment(request: HttpRequest, appointment_id: ObjectId) -> Any:
    """One booking of your teams; 404 otherwise."""
    return scheduling.present_appointment(access_appointment(_actor(request), appointment_id))


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
    appointment = scheduling.do_cancel_appointment(appointment, actor=actor, by="staff")
    return scheduling.present_appointment(appointment)


@appointments_router.post(
    "/{appointment_id}/reschedule",
    response={200: AppointmentOut, 409: ErrorOut, **ERRORS},
    summary="Move an appointment to another slot",
    operation_id="reschedule_appointment",
)
def reschedule_appointment(
    request: HttpRequest, appointment_id: ObjectId, payload: RescheduleIn
) -> Any:
    """Move a booking that has not started to another free slot (409 when just taken)."""
    actor = _actor(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    appointment = scheduling.do_reschedule_appointment(
        appointment, payload.slot_start, actor=actor, by="staff"
    )
    return scheduling.present_appointment(appointment)


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
    appointment = scheduling.do_appointment_no_answer(appointment, actor=actor)
    return scheduling.present_appointment(appointment)
