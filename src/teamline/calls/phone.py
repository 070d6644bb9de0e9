"""Phone calls: the provider's legs of a call, and what the calls app's states do to them.

A caller waiting in the IVR's hold loop is one provider call (the customer's leg,
`Call.provider_call_sid`). When their agent accepts (`PhoneControl.accepted`):

1. the customer's leg is redirected (REST) to the step `ivr/bridge`, whose TwiML puts it in the
   call's conference room (`Call.conference_name`, `endConferenceOnExit`: when the caller hangs
   up the room ends and so does the agent's leg); until the agent is in, the caller hears the
   provider's waiting music;
2. the agent's leg is placed (REST) to their endpoint (accounts.AgentProfile.call_endpoint: a
   phone number or `client:<username>`); when it answers, the provider fetches `agent/<call id>`,
   which joins the same room; its status callback is `agent/<call id>/status`.

The room's events (`ivr/conference`: participant-join …) tell when both legs are in: the call is
`active` (do_mark_call_connected, the desk's timer starts). An agent leg that ends before that
(no answer, busy, failed) gives the call back to the line for the next agent, keeping its place
(`do_requeue_unanswered_call`, a decline as when the agent rejects a ringing call); one that
ends during the talk (the agent hung up their phone)
ends the call. Hold puts the customer's participant on hold (hold music), mute mutes the agent's
participant, hang-up ends both legs. An expert invited into a connected call
(`do_invite_expert_to_call`) is a third leg: their phone rings into the same room
(`agent/<call id>/expert/<user id>`) while they take part in the conversation.

Every request here is the provider's documented REST (connectors/voice_rest.py); a provider
that fails raises InvalidInput with what to do, so the action that asked rolls its state move
back. Webhook steps are verified and stored by the voice connector before they reach this module
(through the IVR's call flow); each handler is idempotent on what it reads: the leg's CallSid
must be the call's current leg, and every state move is conditional.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from teamline.accounts.models import AgentProfile, User
from teamline.connectors import voice_rest
from teamline.connectors.voice import CallRequest, Dial, Hangup, Script
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import ConversationParticipant, Inbox, ParticipantRole
from teamline.core.errors import InvalidInput
from teamline.routing.declines import do_decline_work, route_declined
from teamline.routing.transfers import do_invite_expert

from .actions import _move, do_end_call, do_mark_call_connected
from .models import Call, CallMedium, CallState

logger = logging.getLogger(__name__)

BRIDGE_STEP = "ivr/bridge"
CONFERENCE_STEP = "ivr/conference"
AGENT_STEP = "agent/"
# How long the agent's phone rings before the provider gives up (then: no-answer).
AGENT_RING_SECONDS = 20
FINAL_LEG_STATUSES = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
NO_ENDPOINT = "Add your phone number in your profile to take calls."
_ROOM = re.compile(r"^teamline-call-(\d{1,18})$")


def _provider_failed(exc: voice_rest.VoiceProviderError, verb: str) -> InvalidInput:
    """What the agent reads when the provider did not do `verb` ("connect", "hold", …)."""
    if isinstance(exc, voice_rest.VoiceProviderUnavailable):
        return InvalidInput(
            f"The phone provider is not answering, so Teamline could not {verb} the call. "
            "Try again in a moment."
        )
    return InvalidInput(f"The phone provider refused to {verb} the call ({exc}).")


def agent_endpoint(agent: User) -> str:
    """What the provider dials for `agent`'s leg; InvalidInput when they have set none."""
    profile = AgentProfile.objects.select_related("user").filter(user=agent).first()
    endpoint = profile.call_endpoint if profile is not None else ""
    if not endpoint:
        raise InvalidInput(NO_ENDPOINT)
    return endpoint


def _inbox(call: Call) -> Inbox:
    if call.inbox_id is None or not call.provider_call_sid:
        raise InvalidInput("This phone call has no provider line any more.")
    return Inbox.objects.get(pk=call.inbox_id)


def _room_sid(inbox: Inbox, call: Call) -> str:
    """The SID of the call's room now: asked of the provider, as a room that emptied (a caller
    re-bridged after a missed agent) comes back with a new SID under the same name."""
    sid = voice_rest.find_conference(inbox, call.conference_name)
    if not sid:
        raise InvalidInput("The call is not connected at the phone provider yet.")
    return sid


def end_leg_quietly(inbox: Inbox, call_sid: str) -> None:
    """Hang up a leg that may already be gone (best effort: the call is over either way)."""
    if not call_sid:
        return
    try:
        voice_rest.end_call(inbox, call_sid)
    except voice_rest.VoiceProviderError as exc:
        logger.warning("could not end call leg %s: %s", call_sid, exc)


class PhoneControl:
    """calls.control.CallControl for phone calls (provided in CallsConfig.ready)."""

    def accepted(self, call: Call) -> None:
        agent = User.objects.filter(pk=call.agent_id).first() if call.agent_id else None
        if agent is None:
            raise InvalidInput("This call has no agent to connect.")
        endpoint = agent_endpoint(agent)
        inbox = _inbox(call)
        try:
            # The caller leaves the hold loop at once (into the room, waiting music) ...
            voice_rest.redirect_call(
                inbox, call.provider_call_sid, voice_rest.webhook_url(inbox, BRIDGE_STEP)
            )
            # ... while the agent's phone rings.
            leg = voice_rest.place_call(
                inbox,
                to=endpoint,
                url=voice_rest.webhook_url(inbox, f"{AGENT_STEP}{call.pk}"),
                status_callback=voice_rest.webhook_url(inbox, f"{AGENT_STEP}{call.pk}/status"),
                timeout_seconds=AGENT_RING_SECONDS,
            )
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "connect") from exc
        Call.objects.filter(pk=call.pk).update(
            agent_call_sid=leg, agent_endpoint=endpoint, agent_joined_at=None
        )
        call.agent_call_sid, call.agent_endpoint, call.agent_joined_at = leg, endpoint, None

    def released(self, call: Call) -> None:
        """The agent's leg ends; the caller stays in the room, on hold, for the next agent."""
        inbox = _inbox(call)
        leg = call.agent_call_sid
        Call.objects.filter(pk=call.pk).update(agent_call_sid="", agent_joined_at=None)
        call.agent_call_sid, call.agent_joined_at = "", None
        try:
            room = voice_rest.find_conference(inbox, call.conference_name)
            if room:
                voice_rest.update_participant(inbox, room, call.provider_call_sid, hold=True)
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "hold") from exc
        end_leg_quietly(inbox, leg)

    def held(self, call: Call, *, held: bool) -> None:
        inbox = _inbox(call)
        try:
            room = _room_sid(inbox, call)
            voice_rest.update_participant(inbox, room, call.provider_call_sid, hold=held)
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "hold" if held else "resume") from exc

    def muted(self, call: Call, *, muted: bool) -> None:
        inbox = _inbox(call)
        if not call.agent_call_sid:
            raise InvalidInput("Your phone is not on this call.")
        try:
            room = _room_sid(inbox, call)
            voice_rest.update_participant(inbox, room, call.agent_call_sid, muted=muted)
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "mute" if muted else "unmute") from exc

    def hang_up(self, call: Call) -> None:
        if call.inbox_id is not None and not call.provider_call_sid and call.agent_call_sid:
            # A dialled call (calls/dialout.py) whose customer is not called yet: only the
            # agent's own phone rings.
            end_leg_quietly(Inbox.objects.get(pk=call.inbox_id), call.agent_call_sid)
            return
        inbox = _inbox(call)
        try:
            voice_rest.end_call(inbox, call.provider_call_sid)
        except voice_rest.VoiceProviderRefused as exc:
            # "Not in progress": the caller is already gone (their status is on its way).
            logger.info("caller's leg %s already over: %s", call.provider_call_sid, exc)
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "end") from exc
        end_leg_quietly(inbox, call.agent_call_sid)


# --- Webhook steps (reached through the IVR's call flow) ---------------------------------------


def phone_call_of(inbox: Inbox, call_sid: str) -> Call | None:
    """The Teamline call of the customer's leg `call_sid` on `inbox`, if any."""
    if not call_sid:
        return None
    return Call.objects.filter(
        inbox=inbox, provider_call_sid=call_sid, medium=CallMedium.PHONE
    ).first()


def bridge_script(call: Call | None) -> Script:
    """The customer's leg joins the call's room (`ivr/bridge`). The room ends when they leave;
    until an agent is in they hear the waiting music."""
    if call is None or not call.is_live:
        return Script((Hangup(),))
    return Script(
        (
            Dial(
                conference=call.conference_name,
                start_on_enter=False,
                end_on_exit=True,
                events=CONFERENCE_STEP,
            ),
        )
    )


def _agent_step(step: str) -> tuple[int, int | None, bool] | None:
    """(call id, expert's user id or None, is a status callback) of `agent/<call id>[/status]`
    or `agent/<call id>/expert/<user id>[/status]`; None when the step is no such path."""
    parts = step.split("/")
    if parts[0] + "/" != AGENT_STEP or len(parts) < 2 or not _is_id(parts[1]):
        return None
    rest = parts[2:]
    status = bool(rest) and rest[-1] == "status"
    if status:
        rest = rest[:-1]
    if not rest:
        return int(parts[1]), None, status
    if len(rest) == 2 and rest[0] == "expert" and _is_id(rest[1]):
        return int(parts[1]), int(rest[1]), status
    return None


def _is_id(text: str) -> bool:
    return text.isdigit() and 0 < len(text) <= 18


def answer_agent_leg(inbox: Inbox, request: CallRequest, *, now: datetime) -> Script:
    """`agent/<call id>`: the agent answered their phone; their leg joins the call's room.
    `agent/<call id>/status`: the leg's status callback. A leg that is not the call's current
    one (a stale retry, a forged id) is hung up and changes nothing. `agent/<call id>/expert/
    <user id>`: an expert invited into the call answered; they join the room while they take
    part in its conversation and the call is live (their status callbacks change nothing)."""
    parsed = _agent_step(request.step)
    call = _settled(parsed[0], inbox) if parsed is not None else None
    if parsed is None or call is None:
        return Script((Hangup(),))
    _call_id, expert_id, status = parsed
    if expert_id is not None:
        if status or not _expert_may_join(call, expert_id):
            return Script((Hangup(),)) if not status else Script()
        return _room_script(call)
    current = bool(call.agent_call_sid) and call.agent_call_sid == request.call_sid
    if status:
        if current:
            record_agent_leg_status(call, request.call_status, now=now)
        return Script()
    if not current or call.state not in (CallState.CONNECTING, CallState.ACTIVE):
        return Script((Hangup(),))
    return _room_script(call)


def _room_script(call: Call) -> Script:
    """A staff leg joins the call's room; leaving it does not end the room."""
    return Script(
        (
            Dial(
                conference=call.conference_name,
                start_on_enter=True,
                end_on_exit=False,
                events=CONFERENCE_STEP,
            ),
        )
    )


def _expert_may_join(call: Call, user_id: int) -> bool:
    return call.state in (CallState.ACTIVE, CallState.HELD) and (
        ConversationParticipant.objects.filter(
            conversation_id=call.conversation_id,
            user_id=user_id,
            role=ParticipantRole.EXPERT,
            left_at__isnull=True,
        ).exists()
    )


def do_invite_expert_to_call(
    call: Call, *, actor: User, expert: User | None = None, skill: str | None = None
) -> ConversationParticipant:
    """The agent on a phone call pulls an expert in: the expert joins the conversation
    (routing.transfers.do_invite_expert: who may be invited, the note, the events) and their
    phone (their agent profile's endpoint) rings into the call's room as a third leg. Only the
    agent on a connected call may; an expert without an endpoint, or a provider that fails,
    is an InvalidInput and nobody is invited. Locks the conversation (do_invite_expert)."""
    if call.medium != CallMedium.PHONE:
        raise InvalidInput("Only phone calls take a third leg.")
    if call.state not in (CallState.ACTIVE, CallState.HELD):
        raise InvalidInput("Invite an expert once the call is connected.")
    if call.agent_id != actor.pk:
        raise InvalidInput("Only the agent on the call can invite an expert to it.")
    inbox = _inbox(call)
    with transaction.atomic():
        participant = do_invite_expert(call.conversation, actor=actor, expert=expert, skill=skill)
        invited = participant.user
        profile = AgentProfile.objects.select_related("user").filter(user=invited).first()
        endpoint = profile.call_endpoint if profile is not None else ""
        if not endpoint:
            raise InvalidInput(
                f"{invited.name} has no phone number in their profile to join calls."
            )
        step = f"{AGENT_STEP}{call.pk}/expert/{invited.pk}"
        try:
            voice_rest.place_call(
                inbox,
                to=endpoint,
                url=voice_rest.webhook_url(inbox, step),
                status_callback=voice_rest.webhook_url(inbox, f"{step}/status"),
                timeout_seconds=AGENT_RING_SECONDS,
            )
        except voice_rest.VoiceProviderError as exc:
            raise _provider_failed(exc, "add the expert to") from exc
    return participant


def record_agent_leg_status(call: Call, status: str, *, now: datetime) -> None:
    """The agent's leg ended. Before the call was connected (no answer, busy, failed, or they
    hung up while it was connecting): the call waits again for the next agent, keeping its
    place. While talking: the agent hung up, so the call ends (and the caller's leg with it)."""
    if status not in FINAL_LEG_STATUSES:
        return
    if call.state == CallState.CONNECTING:
        try:
            do_requeue_unanswered_call(call, reason=_unanswered_reason(status), now=now)
        except InvalidInput:
            return  # moved meanwhile (connected, ended): that move stands
    elif call.state in (CallState.ACTIVE, CallState.HELD):
        ended = do_end_call(call, reason="the agent hung up", now=now)
        if ended is not None and ended.inbox_id is not None:
            end_leg_quietly(Inbox.objects.get(pk=ended.inbox_id), ended.provider_call_sid)


def _unanswered_reason(status: str) -> str:
    return {
        "no-answer": "the agent's phone did not answer",
        "busy": "the agent's phone was busy",
        "failed": "the agent's phone could not be reached",
        "canceled": "the agent's phone call was cancelled",
    }.get(status, "the agent's phone hung up before the call was connected")


def do_requeue_unanswered_call(call: Call, *, reason: str, now: datetime | None = None) -> Call:
    """The agent accepted but their leg never joined: the call waits again (state waiting, no
    agent, no agent leg) and its conversation goes back in line with its original place, not
    to be offered to that agent again (routing.declines.do_decline_work, as a rejected call),
    in one transaction; then routing looks for the next agent. Locks the conversation, then
    the call row. Records `call` (unanswered) and `unassigned`; emits call.updated and
    assignment.changed after commit."""
    now = now or timezone.now()
    agent = User.objects.filter(pk=call.agent_id).first() if call.agent_id else None
    with transaction.atomic():
        conversation = lock_conversation(call.conversation_id)
        waiting = _move(
            call,
            from_states=[CallState.CONNECTING],
            actor=None,
            event="unanswered",
            timeline={"reason": reason, "agent_id": call.agent_id},
            state=CallState.WAITING,
            agent=None,
            agent_call_sid="",
            agent_endpoint="",
            agent_joined_at=None,
        )
        declined = False
        if agent is not None and conversation.assignee_id == agent.pk:
            do_decline_work(conversation, agent, reason=reason, now=now, route=False)
            declined = True
    if declined:
        route_declined(call.conversation_id, now=now)
    return waiting


def _settled(call_id: int, inbox: Inbox) -> Call | None:
    """The phone call `call_id` of `inbox` once no transaction is changing it: an agent's
    accept (which places the leg and stores its SID) may still be committing when the
    provider's first request about that leg arrives, so this waits for it (a row lock on
    PostgreSQL, the write lock of an IMMEDIATE transaction on SQLite) and reads it afresh."""
    with transaction.atomic():
        return (
            Call.objects.select_for_update()
            .filter(pk=call_id, inbox=inbox, medium=CallMedium.PHONE)
            .first()
        )


def record_conference_event(inbox: Inbox, request: CallRequest, *, now: datetime) -> None:
    """`ivr/conference`: a leg joined the call's room. When both the caller's and the current
    agent leg are in, the call is connected (once: the move is conditional). The caller leaving
    the room while talking means they hung up (they only leave it otherwise when an accept
    redirects them, while connecting): the call ends at once, so an agent leg the room's end
    drops is not taken for the agent hanging up. Other events change nothing: the legs' status
    callbacks say when a call ends."""
    if request.conference_event not in ("participant-join", "participant-leave"):
        return
    match = _ROOM.match(request.conference_name)
    if match is None or not request.call_sid:
        return
    call = _settled(int(match.group(1)), inbox)
    if call is None or not call.is_live:
        return
    if request.conference_event == "participant-leave":
        if request.call_sid == call.provider_call_sid and call.state in (
            CallState.ACTIVE,
            CallState.HELD,
        ):
            do_end_call(call, reason="the caller hung up", now=now)
        return
    room = request.conference_sid
    with transaction.atomic():
        if request.call_sid == call.provider_call_sid:
            Call.objects.filter(pk=call.pk, customer_joined_at__isnull=True).update(
                customer_joined_at=now
            )
        elif call.agent_call_sid and request.call_sid == call.agent_call_sid:
            Call.objects.filter(
                pk=call.pk, agent_call_sid=request.call_sid, agent_joined_at__isnull=True
            ).update(agent_joined_at=now)
        else:
            return  # someone else's leg (a listener) or a leg that is no longer the call's
        if room:
            Call.objects.filter(pk=call.pk).exclude(conference_sid=room).update(conference_sid=room)
        fresh = Call.objects.get(pk=call.pk)
        if (
            fresh.state == CallState.CONNECTING
            and fresh.customer_joined_at is not None
            and fresh.agent_joined_at is not None
        ):
            with contextlib.suppress(InvalidInput):  # a concurrent event connected it
                do_mark_call_connected(fresh, now=now)
