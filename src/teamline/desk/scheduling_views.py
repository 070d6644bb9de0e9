"""Callbacks and appointments on the desk: "Call now" (the provider dials, calls/dialout.py),
"Call done" / "No answer", and the appointments page (list, cancel, reschedule).

Thin views (parse → access helper → routing.callbacks / routing.appointments action → render).
The rules are the API's (routing/api.py): ids go through access_callback / access_appointment
(other teams: 404), and a call's outcome is recorded only by the agent on the call, a supervisor
of the team or an admin (403 otherwise). One view, two renderings: the page, or its partial for
htmx.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from teamline.calls import dialout
from teamline.calls.models import Call
from teamline.conversations.models import Conversation
from teamline.conversations.queries import visible_conversations
from teamline.core.errors import InvalidInput, TeamlineError
from teamline.customers.masking import Sensitive, shown
from teamline.routing import appointments as booking
from teamline.routing import callbacks, scheduling
from teamline.routing.appointments import access_appointment
from teamline.routing.callbacks import access_callback
from teamline.routing.models import (
    LIVE_APPOINTMENT_STATES,
    Appointment,
    AppointmentState,
    Callback,
    CallbackState,
)
from teamline.teams.models import Team
from teamline.teams.queries import team_ids_for

from .templatetags.scheduling_tags import clock_in, slot_time
from .views import (
    agent_of,
    announce,
    conversation_context,
    desk_view,
    hx_target,
    is_htmx,
    render_conversation_page,
    safe_next,
)

# The appointments page lists at most this many upcoming bookings.
APPOINTMENTS_LIMIT = 200


# --- Callbacks --------------------------------------------------------------------------------


def _outcome_sentence(callback: Callback, answered: bool, actor: Any) -> str:
    if answered:
        return _("Call done. The conversation is resolved.")
    phone = shown(actor, Sensitive.PHONE, callback.phone)
    if callback.state == CallbackState.FAILED:
        return _(
            "No answer. %(phone)s was not reached after %(attempts)s tries: "
            "the callback is closed and the customer told."
        ) % {"phone": phone, "attempts": callback.attempts}
    when = (
        clock_in(callback.conversation.team, callback.next_attempt_at, timezone.now())
        if callback.next_attempt_at
        else _("later")
    )
    return _("No answer. %(phone)s will be called again at %(when)s.") % {
        "phone": phone,
        "when": when,
    }


def _callback_outcome(request: HttpRequest, callback_id: int, *, answered: bool) -> HttpResponse:
    actor = agent_of(request)
    callback: Callback = access_callback(actor, callback_id)
    conversation: Conversation = callback.conversation
    scheduling.check_may_record_outcome(actor, conversation.assignee_id, conversation.team)
    try:
        if answered:
            callback = callbacks.do_complete_callback(callback, actor=actor)
        else:
            callback = callbacks.do_callback_no_answer(callback, actor=actor)
    except InvalidInput as exc:
        conversation.refresh_from_db()
        if hx_target(request) == "conversation-status":
            context = conversation_context(actor, conversation, callback_error=exc.message)
            return render(request, "desk/_conversation_status.html", context, status=exc.status)
        return render_conversation_page(
            request, conversation, status=exc.status, callback_error=exc.message
        )
    sentence = _outcome_sentence(callback, answered, actor)
    still_visible = visible_conversations(actor).filter(pk=conversation.pk).exists()
    if hx_target(request) == "conversation-status" and still_visible:
        conversation.refresh_from_db()
        context = conversation_context(actor, conversation)
        return announce(render(request, "desk/_conversation_status.html", context), sentence)
    flash.success(request, sentence)
    default = (
        reverse("desk:conversation", args=[conversation.pk])
        if still_visible
        else reverse("desk:inbox")
    )
    if is_htmx(request):
        response = HttpResponse()
        response["HX-Redirect"] = safe_next(request, default)
        return response
    return redirect(safe_next(request, default))


@require_POST
@desk_view
def callback_done(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Call done: the customer was reached; the conversation is resolved."""
    return _callback_outcome(request, callback_id, answered=True)


@require_POST
@desk_view
def callback_no_answer(request: HttpRequest, callback_id: int) -> HttpResponse:
    """No answer: called again later (twice), then the callback is closed."""
    return _callback_outcome(request, callback_id, answered=False)


def _dialled(
    request: HttpRequest, conversation: Conversation, dial: Any, phone: str
) -> HttpResponse:
    """Run `dial` (the dial-out action) and answer like the outcome buttons: the conversation's
    status partial for htmx (with the sentence announced), else the page. A refusal (provider
    down, no phone number, a call already under way) is shown in the callback panel."""
    actor = agent_of(request)
    try:
        call: Call = dial()
    except InvalidInput as exc:
        conversation.refresh_from_db()
        if hx_target(request) == "conversation-status":
            context = conversation_context(actor, conversation, callback_error=exc.message)
            return render(request, "desk/_conversation_status.html", context, status=exc.status)
        return render_conversation_page(
            request, conversation, status=exc.status, callback_error=exc.message
        )
    phone = shown(actor, Sensitive.PHONE, phone)
    sentence = _("Calling you on %(endpoint)s. When you answer, %(phone)s is dialled.") % {
        "endpoint": call.agent_endpoint,
        "phone": phone,
    }
    if hx_target(request) == "conversation-status":
        conversation.refresh_from_db()
        context = conversation_context(actor, conversation)
        return announce(render(request, "desk/_conversation_status.html", context), sentence)
    flash.success(request, sentence)
    default = reverse("desk:conversation", args=[conversation.pk])
    if is_htmx(request):
        response = HttpResponse()
        response["HX-Redirect"] = safe_next(request, default)
        return response
    return redirect(safe_next(request, default))


@require_POST
@desk_view
def callback_dial(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Call now: the provider rings the agent's phone, then the customer's (calls/dialout.py).
    Another team's callback: 404; someone else's in the team: 403."""
    actor = agent_of(request)
    callback: Callback = access_callback(actor, callback_id)
    return _dialled(
        request,
        callback.conversation,
        lambda: dialout.do_dial_callback(callback, actor=actor),
        callback.phone,
    )


@require_POST
@desk_view
def appointment_dial(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """Call now on a booked call whose slot has started: the same dial-out as a callback's."""
    actor = agent_of(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    if appointment.conversation is None:
        raise InvalidInput(_("This appointment has no conversation to call from."))
    return _dialled(
        request,
        appointment.conversation,
        lambda: dialout.do_dial_appointment(appointment, actor=actor),
        appointment.phone,
    )


# --- Appointments -----------------------------------------------------------------------------


def _rows(actor: Any, errors: dict[int, str], now: datetime) -> list[dict[str, Any]]:
    """Upcoming (booked or in progress) appointments of the actor's teams, soonest first, each
    with its time, the free slots it may move to (booked ones only) and its error, if any."""
    appointments = list(
        booking.teams_appointments(team_ids_for(actor), states=LIVE_APPOINTMENT_STATES)
        .select_related("customer", "conversation")
        .order_by("slot_start", "pk")[:APPOINTMENTS_LIMIT]
    )
    teams: dict[int, Team] = {a.team_id: a.team for a in appointments}
    movable = {a.team_id for a in appointments if a.state == AppointmentState.BOOKED}
    slots = {
        team_id: [
            (slot.start, slot_time(teams[team_id], slot.start))
            for slot in booking.available_slots(teams[team_id], now=now)
        ]
        for team_id in sorted(movable)
    }
    rows = []
    for appointment in appointments:
        own = appointment.slot_start.astimezone(UTC)
        rows.append(
            {
                "appointment": appointment,
                "customer": shown(actor, Sensitive.NAME, appointment.customer.display_name),
                "time": slot_time(appointment.team, appointment.slot_start),
                "can_reschedule": appointment.state == AppointmentState.BOOKED,
                "slots": [
                    when for start, when in slots.get(appointment.team_id, []) if start != own
                ],
                "error": errors.get(appointment.pk, ""),
            }
        )
    return rows


def render_appointments(
    request: HttpRequest,
    *,
    errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    errors = errors or {}
    rows = _rows(agent_of(request), errors, timezone.now())
    shown = {row["appointment"].pk for row in rows}
    context = {
        "section": "appointments",
        "rows": rows,
        # An error about a booking no longer listed (cancelled meanwhile) goes above the table.
        "list_errors": [text for pk, text in errors.items() if pk not in shown],
    }
    template = (
        "desk/_appointments.html"
        if hx_target(request) == "appointments-list"
        else "desk/appointments.html"
    )
    return render(request, template, context, status=status)


@require_GET
@desk_view
def appointments(request: HttpRequest) -> HttpResponse:
    """Upcoming appointments of the actor's teams (admins: every team)."""
    return render_appointments(request)


def _done(request: HttpRequest, sentence: str) -> HttpResponse:
    if is_htmx(request):
        return announce(render_appointments(request), sentence)
    flash.success(request, sentence)
    return redirect("desk:appointments")


@require_POST
@desk_view
def cancel_appointment(request: HttpRequest, appointment_id: int) -> HttpResponse:
    actor = agent_of(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    name = shown(actor, Sensitive.NAME, appointment.customer.display_name)
    try:
        booking.do_cancel_appointment(appointment, actor=actor, by="staff")
    except InvalidInput as exc:
        return _error(request, appointment, exc)
    return _done(request, _("Appointment with %(name)s cancelled.") % {"name": name})


def _slot_start(value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(_("Choose a new time from the list.")) from exc
    if start.tzinfo is None:
        raise InvalidInput(_("Choose a new time from the list."))
    return start


@require_POST
@desk_view
def reschedule_appointment(request: HttpRequest, appointment_id: int) -> HttpResponse:
    actor = agent_of(request)
    appointment: Appointment = access_appointment(actor, appointment_id)
    name = shown(actor, Sensitive.NAME, appointment.customer.display_name)
    try:
        start = _slot_start(request.POST.get("slot_start", ""))
        appointment = booking.do_reschedule_appointment(appointment, start, actor=actor, by="staff")
    except (InvalidInput, booking.SlotTaken) as exc:
        return _error(request, appointment, exc)
    when = slot_time(appointment.team, appointment.slot_start)
    return _done(
        request,
        _("Appointment with %(name)s moved to %(when)s %(zone)s time.")
        % {"name": name, "when": when.local, "zone": when.zone},
    )


def _error(request: HttpRequest, appointment: Appointment, exc: TeamlineError) -> HttpResponse:
    return render_appointments(request, errors={appointment.pk: exc.message}, status=exc.status)
