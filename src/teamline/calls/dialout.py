"""Callbacks and booked calls dial out: the agent presses "Call now", Teamline places the call.

A callback (routing/callbacks.py) or a call appointment (routing/appointments.py) that routing
gave to an agent is called from the desk. `do_dial_callback` / `do_dial_appointment` open an
outbound phone Call on the conversation (the callback's work item) and ask the provider for the
agent's leg first: the agent's own phone rings (their profile's endpoint, calls/phone.py). When
the agent answers, the provider fetches the leg's TwiML (`dial/<conversation>/<call>/agent`):
Teamline places the customer's leg to the callback's number and puts the agent in the call's
conference room; when the customer answers (`…/customer`) they join the same room and the call
is active. Both legs leave the room with `endConferenceOnExit`: whoever hangs up ends the call.

The customer leg's status callback (`…/customer/status`) records the outcome with the
callback's own rules: answered → connected; no-answer, busy, failed or canceled before
answering → the Call ends with that reason, the agent's leg is hung up, and the callback gets
`do_callback_no_answer` (it waits `CALLBACK_RETRY_MINUTES` and comes back, up to its retries) —
an appointment `do_appointment_no_answer`; completed after talking → the Call ends and the
callback is done (`do_complete_callback`; an appointment `do_complete_appointment`), which
resolves the conversation and puts the agent in wrap-up. The agent's leg ending before the
customer answered (the agent did not pick up, or gave up) ends the Call and cancels the customer
leg, and records nothing against the customer: the callback stays with the agent.

Which inbox dials (its provider account and `from_number`, the number the customer sees): the
voice inbox of the call the customer asked on (the conversation's latest voice message), else
the conversation's inbox when it is a voice inbox, else the first active voice inbox whose
default team is the conversation's team. None → the agent is told to add one.

Every leg's step is under the inbox's webhook prefix, verified like every call webhook
(connectors/voice.py; this module answers the `dial/` steps through `provide_step_flow`), and
idempotent: a TwiML step places the customer's leg once (a conditional claim on the Call row),
a status callback is stored once per CallSid + leg + CallStatus, and an outcome is recorded
only while the callback is with this call's agent and this call is the conversation's latest.

Lock order: agent profile → conversation (conversations.locks) → the call row.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from teamline.accounts.models import User
from teamline.connectors import voice_rest
from teamline.connectors.voice import CallRequest, Dial, Hangup, Say, Script
from teamline.connectors.voice_rest import VoiceProviderError, VoiceProviderUnavailable
from teamline.conversations.events import record
from teamline.conversations.locks import lock_agent_then_conversation, lock_conversation
from teamline.conversations.models import Conversation, Inbox, InboxKind, Message, TimelineKind
from teamline.core.errors import Conflict, Forbidden, InvalidInput
from teamline.routing.appointments import do_appointment_no_answer, do_complete_appointment
from teamline.routing.callbacks import do_callback_no_answer, do_complete_callback
from teamline.routing.models import (
    Appointment,
    AppointmentKind,
    AppointmentState,
    Callback,
    CallbackState,
)

from .actions import _move, do_end_call, do_mark_call_connected, do_open_call
from .models import Call, CallDirection, CallMedium, CallState
from .phone import CONFERENCE_STEP, agent_endpoint, end_leg_quietly
from .queries import live_call_of

STEP_PREFIX = "dial/"
# How long each phone rings before the provider gives up (no-answer).
AGENT_RING_SECONDS = 25
CUSTOMER_RING_SECONDS = 30
# A leg's final CallStatus other than "completed": nobody talked on it.
NOT_REACHED = frozenset({"no-answer", "busy", "failed", "canceled"})
FINAL = NOT_REACHED | {"completed"}
# What the Say verbs to the agent are spoken in (the desk's language).
AGENT_SAY_LANGUAGE = "en-GB"


# --- Who and what is dialled -----------------------------------------------------------------


def dialling_inbox(conversation: Conversation) -> Inbox:
    """The voice inbox whose provider account places the conversation's outbound call (see
    the module's docstring for the order). InvalidInput when the team has none."""
    voice = Inbox.objects.filter(kind=InboxKind.VOICE, is_active=True)
    asked_on = (
        Message.objects.filter(conversation=conversation, inbox__in=voice, channel="voice")
        .order_by("-created_at", "-pk")
        .values_list("inbox_id", flat=True)
        .first()
    )
    if asked_on is not None:
        return voice.get(pk=asked_on)
    own = voice.filter(pk=conversation.inbox_id).first()
    if own is not None:
        return own
    team = voice.filter(default_team_id=conversation.team_id).order_by("pk").first()
    if team is not None:
        return team
    raise InvalidInput(
        "No voice inbox can place this call: an admin adds a voice inbox for this team."
    )


@dataclass(frozen=True)
class DialTarget:
    """What a dial-out call is for: a callback or a call appointment, with its number."""

    callback: Callback | None = None
    appointment: Appointment | None = None

    @property
    def phone(self) -> str:
        if self.callback is not None:
            return self.callback.phone
        return self.appointment.phone if self.appointment is not None else ""


def target_of(call: Call) -> DialTarget | None:
    """The callback (with an agent) or started call appointment the call was placed for."""
    if call.work_item_id is None:
        return None
    callback = Callback.objects.filter(
        work_item_id=call.work_item_id, state=CallbackState.ASSIGNED
    ).first()
    if callback is not None:
        return DialTarget(callback=callback)
    appointment = Appointment.objects.filter(
        work_item_id=call.work_item_id, state=AppointmentState.STARTED, kind=AppointmentKind.CALL
    ).first()
    if appointment is not None:
        return DialTarget(appointment=appointment)
    return None


def _step(call: Call, leg: str, *, status: bool = False) -> str:
    """`dial/<conversation id>/<call id>/<leg>[/status]`: the conversation's id lets a step
    wait for the "Call now" that placed the leg while it is still committing."""
    path = f"{STEP_PREFIX}{call.conversation_id}/{call.pk}/{leg}"
    return path + ("/status" if status else "")


def _provider_problem(exc: VoiceProviderError) -> InvalidInput:
    if isinstance(exc, VoiceProviderUnavailable):
        return InvalidInput(
            "The phone provider cannot be reached right now, so nothing was dialled. "
            "Try again in a minute."
        )
    return InvalidInput(f"The phone provider refused the call: {exc}.")


# --- Call now ----------------------------------------------------------------------------------


def do_dial_callback(callback: Callback, *, actor: User, now: datetime | None = None) -> Call:
    """ "Call now" on a callback assigned to `actor`: the outbound call opens and the agent's
    phone rings (then the customer's, see the module). Only the agent the callback is with
    (Forbidden otherwise); never while a call with the customer is under way (Conflict). A
    provider that is down or refuses rolls everything back: InvalidInput saying so, the
    callback still with the agent. Locks the conversation, then the call row."""
    callback.refresh_from_db()
    if callback.state != CallbackState.ASSIGNED:
        raise Conflict("This callback is not with an agent.")
    return _dial(callback.conversation_id, callback.work_item_id, callback.phone, actor, now)


def do_dial_appointment(
    appointment: Appointment, *, actor: User, now: datetime | None = None
) -> Call:
    """ "Call now" on a booked call whose slot has started and whose conversation routing
    gave to `actor`: the same dial-out as a callback's, to the booked number."""
    appointment.refresh_from_db()
    if appointment.kind != AppointmentKind.CALL or not appointment.phone:
        raise InvalidInput("This appointment is not a phone call.")
    if appointment.state != AppointmentState.STARTED or appointment.conversation_id is None:
        raise Conflict("This appointment has not started, or is over.")
    return _dial(
        appointment.conversation_id, appointment.work_item_id, appointment.phone, actor, now
    )


def _dial(
    conversation_id: int,
    work_item_id: int | None,
    phone: str,
    actor: User,
    now: datetime | None,
) -> Call:
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if conversation.assignee_id != actor.pk:
            raise Forbidden("Only the agent this call is assigned to can dial it.")
        if live_call_of(conversation) is not None:
            raise Conflict("A call with this customer is already under way.")
        endpoint = agent_endpoint(actor)  # InvalidInput when the agent has set none
        inbox = dialling_inbox(conversation)
        call = do_open_call(
            conversation,
            medium=CallMedium.PHONE,
            direction=CallDirection.OUTBOUND,
            inbox=inbox,
            work_item_id=work_item_id,
            now=now,
        )
        call = _move(
            call,
            from_states=[CallState.WAITING],
            actor=actor,
            event="dialling",
            timeline={"to": phone},
            state=CallState.CONNECTING,
            agent=actor,
            agent_endpoint=endpoint[:80],
        )
        try:
            sid = voice_rest.place_call(
                inbox,
                to=endpoint,
                url=voice_rest.webhook_url(inbox, _step(call, "agent")),
                status_callback=voice_rest.webhook_url(inbox, _step(call, "agent", status=True)),
                timeout_seconds=AGENT_RING_SECONDS,
            )
        except VoiceProviderError as exc:
            raise _provider_problem(exc) from exc
        Call.objects.filter(pk=call.pk).update(agent_call_sid=sid[:64])
        call.agent_call_sid = sid[:64]
    return call


# --- The legs' steps ---------------------------------------------------------------------------


def _call_of(inbox: Inbox, step: str) -> tuple[Call | None, str]:
    """The outbound call a `dial/<conversation id>/<call id>/<leg>[/status]` step names on this
    inbox, and the rest of the step ("agent", "customer/status"…).

    A softphone may answer the agent's leg before the "Call now" that placed it has committed
    (the leg is placed inside its transaction, which created the call row): the conversation's
    row lock, which that transaction holds, is taken first, so this waits for it (on SQLite the
    IMMEDIATE transaction's write lock does the same) and then sees the call."""
    _prefix, _, rest = step.partition(STEP_PREFIX)
    ids = rest.split("/", 2)
    if len(ids) < 3 or not all(i.isdigit() and len(i) <= 12 for i in ids[:2]):
        return None, ""
    conversation_id, call_id, leg = int(ids[0]), int(ids[1]), ids[2]
    with transaction.atomic():
        if not Conversation.objects.select_for_update().filter(pk=conversation_id).exists():
            return None, leg
        call = (
            Call.objects.select_related("conversation", "customer", "agent", "inbox")
            .filter(
                pk=call_id,
                conversation_id=conversation_id,
                inbox=inbox,
                direction=CallDirection.OUTBOUND,
            )
            .first()
        )
    return call, leg


def _say(text: str) -> Say:
    return Say(text, AGENT_SAY_LANGUAGE)


def _room(call: Call) -> Dial:
    """The call's conference room; its events (`ivr/conference`, calls/phone.py) note each
    leg's join and the room's SID, which hold and mute use."""
    return Dial(
        conference=call.conference_name,
        end_on_exit=True,
        timeout=CUSTOMER_RING_SECONDS,
        events=CONFERENCE_STEP,
    )


class DialoutFlow:
    """The `dial/` steps of the voice connector (connectors.voice.CallFlow)."""

    def answer(self, inbox: Inbox, request: CallRequest) -> Script:
        call, leg = _call_of(inbox, request.step)
        now = timezone.now()
        if call is None:
            return Script((Hangup(),))
        if leg == "agent":
            return _agent_answered(inbox, call, request)
        if leg == "customer":
            return _customer_answered(call, request, now)
        if leg == "agent/status":
            _agent_status(call, request, now)
        elif leg == "customer/status":
            _customer_status(call, request, now)
        return Script()


def _agent_answered(inbox: Inbox, call: Call, request: CallRequest) -> Script:
    """The agent picked up: the customer's phone rings (placed once, whatever the retries)
    and the agent waits for them in the call's room."""
    if call.agent_call_sid and request.call_sid != call.agent_call_sid:
        return Script((Hangup(),))
    target = target_of(call)
    if not call.is_live or target is None:
        return Script((_say("This call is over."), Hangup()))
    try:
        with transaction.atomic():
            claimed = Call.objects.filter(
                pk=call.pk, state=CallState.CONNECTING, provider_call_sid=""
            ).update(version=F("version") + 1)
            if claimed:
                sid = voice_rest.place_call(
                    inbox,
                    to=target.phone,
                    url=voice_rest.webhook_url(inbox, _step(call, "customer")),
                    status_callback=voice_rest.webhook_url(
                        inbox, _step(call, "customer", status=True)
                    ),
                    timeout_seconds=CUSTOMER_RING_SECONDS,
                )
                Call.objects.filter(pk=call.pk).update(provider_call_sid=sid[:64])
                record(
                    call.conversation,
                    TimelineKind.CALL,
                    call_id=call.pk,
                    medium=call.medium,
                    event="dialling_customer",
                    to=target.phone,
                )
    except VoiceProviderError as exc:
        reason = (
            "failed: the phone provider could not be reached"
            if isinstance(exc, VoiceProviderUnavailable)
            else f"failed: the phone provider refused to call the customer ({exc})"
        )
        do_end_call(call, reason=reason)
        return Script(
            (
                _say("Sorry, the customer could not be called. Try again from the desk."),
                Hangup(),
            )
        )
    name = call.customer.display_name or target.phone
    return Script((_say(f"Calling {name}. Please hold."), _room(call)))


def _customer_answered(call: Call, request: CallRequest, now: datetime) -> Script:
    """The customer picked up: they join the agent in the room; the call is active."""
    if request.call_sid != call.provider_call_sid or not call.is_live:
        return Script((Hangup(),))
    _connected(call, now)
    return Script((_room(call),))


def _connected(call: Call, now: datetime) -> None:
    call.refresh_from_db()
    if call.state == CallState.CONNECTING:
        # Another step of the same answer (the TwiML step or the status) may move it first.
        with contextlib.suppress(InvalidInput):
            do_mark_call_connected(call, now=now)


def _latest(call: Call) -> bool:
    newest = (
        Call.objects.filter(conversation_id=call.conversation_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return newest == call.pk


def _hang_up_leg(call: Call, sid: str) -> None:
    """End a leg that may still ring or wait in the room (its own status callback follows)."""
    if call.inbox is not None:
        end_leg_quietly(call.inbox, sid)


def _record_outcome(call: Call, *, talked: bool, now: datetime) -> None:
    """The callback's (or appointment's) outcome, once: only while it is with this call's
    agent and this call is the conversation's latest (a late status of an older attempt
    changes nothing). Runs inside the caller's transaction, under the agent → conversation
    locks."""
    agent = call.agent
    if agent is None or not _latest(call):
        return
    target = target_of(call)
    if target is None:
        return
    conversation = Conversation.objects.get(pk=call.conversation_id)
    if conversation.assignee_id != agent.pk:
        return
    if target.callback is not None:
        if talked:
            do_complete_callback(target.callback, actor=agent, now=now)
        else:
            do_callback_no_answer(target.callback, actor=agent, now=now)
    elif target.appointment is not None:
        if talked:
            do_complete_appointment(target.appointment, actor=agent, now=now)
        else:
            do_appointment_no_answer(target.appointment, actor=agent, now=now)


def _customer_status(call: Call, request: CallRequest, now: datetime) -> None:
    if request.call_sid != call.provider_call_sid:
        return
    status = request.call_status
    if status in ("in-progress", "answered"):
        _connected(call, now)
        return
    if status not in FINAL:
        return
    ended = None
    with transaction.atomic():
        lock_agent_then_conversation(call.agent_id, call.conversation_id)
        call.refresh_from_db()
        # Talked: the call was connected (the customer answered into the room). A leg that
        # completes unconnected (picked up as the agent gave up) is no conversation.
        talked = call.answered_at is not None
        ended = do_end_call(call, reason=status, now=now)
        if talked:
            _record_outcome(call, talked=True, now=now)
        elif ended is not None:
            # The customer was not reached and nobody else had ended the call (an agent who
            # gave up first is no unanswered callback): the callback waits for its retry.
            _record_outcome(call, talked=False, now=now)
    if ended is not None and not talked:
        _hang_up_leg(ended, ended.agent_call_sid)  # the agent, alone in the room, after commit


def _agent_status(call: Call, request: CallRequest, now: datetime) -> None:
    if request.call_sid != call.agent_call_sid:
        return
    status = request.call_status
    if status not in FINAL:
        return
    with transaction.atomic():
        lock_agent_then_conversation(call.agent_id, call.conversation_id)
        call.refresh_from_db()
        if call.answered_at is not None:
            # The agent hung up after talking: the customer's leg leaves the room with them.
            do_end_call(call, reason="completed", now=now)
            _record_outcome(call, talked=True, now=now)
            return
        reason = (
            "the agent hung up before the customer answered"
            if status == "completed"
            else f"the agent's phone: {status}"
        )
        ended = do_end_call(call, reason=reason, now=now)
    if ended is not None:
        # A customer leg placed meanwhile (read from the ended row: it may have been stored
        # while this waited for the locks) stops ringing, after commit.
        _hang_up_leg(ended, ended.provider_call_sid)
