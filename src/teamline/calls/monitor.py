"""Supervisors listening in on phone calls (monitoring), and coaching the agent.

A phone call's two legs meet in the provider's conference room `teamline-call-<pk>` (calls/
phone.py). To listen in, Teamline places a third call, to the supervisor's own endpoint (their
phone number or softphone, from their agent profile); when the supervisor answers, the provider
fetches the step `monitor/<monitor id>` under the inbox's webhook prefix (signed and verified
like every call webhook) and gets:

    <Dial><Conference muted="true" beep="false" startConferenceOnEnter="false"
                      endConferenceOnExit="false">teamline-call-N</Conference></Dial>

muted: the supervisor hears both sides and nobody hears them; no beep: neither the customer nor
the agent hears anyone join. Coaching is the same leg with `coach="<the agent's CallSid>"` and
not muted: only the agent hears the supervisor (Twilio's conference coach). The leg's status
callback (`monitor/<id>/status`) ends the monitor when the supervisor hangs up or the room
closes with the call. Idempotent: provider retries of both steps change nothing (conditional
updates on the monitor's state).

Browser calls (WebRTC, audio and video) cannot be monitored: their media goes directly between
the customer's and the agent's browsers and never passes through Teamline, so there is nothing
on the server to listen to (that would need a media server, an SFU, in the path of every call).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from teamline.accounts.models import AgentProfile, User
from teamline.connectors import voice_rest
from teamline.connectors.voice import CallRequest, Dial, Hangup, Say, Script
from teamline.conversations.events import record
from teamline.conversations.models import Inbox, TimelineKind
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    send_event_on_commit,
    user_group,
)

from .events import present_call
from .models import (
    LIVE_MONITOR_STATES,
    Call,
    CallMedium,
    CallMonitor,
    MonitorMode,
    MonitorState,
)
from .queries import MONITORABLE_STATES, can_supervise_call

MONITOR_PREFIX = "monitor/"
# How long the supervisor's phone rings before the provider gives up.
RING_SECONDS = 30
# What the supervisor hears before joining (the provider's English voice).
SAY_LANGUAGE = "en-US"
FINAL_STATUSES = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
BROWSER_CALL_REFUSAL = (
    "Listening in is not possible on browser calls: their audio and video go directly "
    "between the customer's and the agent's browsers and never pass through Teamline."
)


def monitor_endpoint(user: User) -> str:
    """Where the provider rings a supervisor who listens in: the call endpoint of their agent
    profile (their phone number, or the provider's softphone client), "" when they have none.
    The profile's endpoint is the one agents take phone calls on (calls/phone.py)."""
    profile = AgentProfile.objects.select_related("user").filter(user=user).first()
    return profile.call_endpoint if profile is not None else ""


def live_monitor_of(call: Call, supervisor: User) -> CallMonitor | None:
    return CallMonitor.objects.filter(
        call=call, supervisor=supervisor, state__in=LIVE_MONITOR_STATES
    ).first()


def _emit(monitor: CallMonitor) -> None:
    """The supervisor's own desk hears that their leg changed (their live calls page shows
    "Listening" and the Stop button); the agent's and customer's screens are not told."""
    call = Call.objects.get(pk=monitor.call_id)
    send_event_on_commit(
        Event(EventType.CALL_UPDATED, staff=present_call(call)),
        Recipients(staff=frozenset({user_group(monitor.supervisor_id)})),
    )


def _record(monitor: CallMonitor, call: Call, supervisor: User, event: str, **data: Any) -> None:
    record(
        call.conversation,
        TimelineKind.CALL,
        actor=supervisor,
        call_id=call.pk,
        medium=call.medium,
        event=event,
        monitor_id=monitor.pk,
        mode=monitor.mode,
        supervisor=supervisor.name,
        **data,
    )


def do_monitor_call(
    call: Call,
    *,
    supervisor: User,
    mode: str = MonitorMode.LISTEN,
    now: datetime | None = None,
) -> CallMonitor:
    """A supervisor of the call's team (or an admin) listens in on a phone call — or coaches
    the agent — through a call Teamline places to the supervisor's endpoint. Records a `call`
    timeline row "monitored" (or "coached") with the supervisor (audit) and tells the
    supervisor's desk. One live leg per supervisor and call.

    Forbidden for anyone else; InvalidInput for a browser call (its media never reaches the
    server), a call no agent has answered or that is over, a supervisor without an endpoint,
    or a provider that does not place the call (nothing is kept then)."""
    if mode not in MonitorMode.values:
        raise InvalidInput(f"No such way to listen in: {mode!r}.")
    if not can_supervise_call(supervisor, call):
        raise Forbidden("Only supervisors of the call's team can listen in.")
    if call.medium != CallMedium.PHONE:
        raise InvalidInput(BROWSER_CALL_REFUSAL)
    if call.state not in MONITORABLE_STATES:
        if call.is_live:
            raise InvalidInput("You can listen in once an agent has answered the call.")
        raise InvalidInput("This call is over.")
    inbox = call.inbox
    if inbox is None:
        raise InvalidInput("This call has no voice inbox to call you through.")
    if mode == MonitorMode.COACH and not call.agent_call_sid:
        raise InvalidInput("Coaching needs the agent's phone leg, and this call has none yet.")
    endpoint = monitor_endpoint(supervisor)
    if not endpoint:
        raise InvalidInput("Add your phone number in your profile to listen in on calls.")
    try:
        with transaction.atomic():
            monitor = CallMonitor.objects.create(
                call=call,
                supervisor=supervisor,
                mode=mode,
                endpoint=endpoint,
                created_at=now or timezone.now(),
            )
            step = f"{MONITOR_PREFIX}{monitor.pk}"
            sid = voice_rest.place_call(
                inbox,
                to=endpoint,
                url=voice_rest.webhook_url(inbox, step),
                status_callback=voice_rest.webhook_url(inbox, f"{step}/status"),
                timeout_seconds=RING_SECONDS,
            )
            CallMonitor.objects.filter(pk=monitor.pk).update(provider_call_sid=sid)
            monitor.provider_call_sid = sid
            event = "coached" if mode == MonitorMode.COACH else "monitored"
            _record(monitor, call, supervisor, event)
            _emit(monitor)
    except IntegrityError:
        raise InvalidInput("You are already listening to this call.") from None
    except voice_rest.VoiceProviderUnavailable:
        raise InvalidInput(
            "The phone provider did not answer, so nobody is calling you. Try again in a moment."
        ) from None
    except voice_rest.VoiceProviderRefused as exc:
        raise InvalidInput(f"The phone provider would not call you: {exc}.") from None
    return monitor


def do_end_monitoring(
    monitor: CallMonitor,
    *,
    reason: str,
    actor: User | None = None,
    hang_up: bool = False,
    now: datetime | None = None,
) -> CallMonitor | None:
    """The supervisor's leg is over: they pressed Stop (`hang_up`: Teamline ends the leg at the
    provider), hung up, did not answer, or the call ended. Idempotent: a monitor already ended
    returns None and changes nothing. A timeline row "monitor ended" keeps the audit whole.

    A provider that cannot be reached keeps the leg live (InvalidInput: try again); one that
    says the leg is gone already ends it here too."""
    ended_at = now or timezone.now()
    with transaction.atomic():
        moved = CallMonitor.objects.filter(pk=monitor.pk, state__in=LIVE_MONITOR_STATES).update(
            state=MonitorState.ENDED, ended_at=ended_at, end_reason=reason[:200]
        )
        if not moved:
            return None
        fresh = CallMonitor.objects.select_related(
            "call__conversation", "call__inbox", "supervisor"
        ).get(pk=monitor.pk)
        _record(fresh, fresh.call, actor or fresh.supervisor, "monitor ended", reason=reason[:200])
        _emit(fresh)
        if hang_up and fresh.provider_call_sid and fresh.call.inbox is not None:
            try:
                voice_rest.end_call(fresh.call.inbox, fresh.provider_call_sid)
            except voice_rest.VoiceProviderUnavailable:
                raise InvalidInput(
                    "The phone provider did not answer, so you are still listening. "
                    "Try again, or hang up your phone."
                ) from None
            except voice_rest.VoiceProviderRefused:
                pass  # the leg is over already (hung up, or the call ended)
    return fresh


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 12 else 0


class MonitorFlow:
    """Answers the steps of supervisors' legs (connectors.voice.provide_step_flow)."""

    def answer(self, inbox: Inbox, request: CallRequest) -> Script:
        parts = request.step.split("/")
        status = len(parts) == 3 and parts[2] == "status"
        monitor = (
            CallMonitor.objects.select_related(
                "call__conversation", "call__agent", "call__customer", "supervisor"
            )
            .filter(pk=_int(parts[1]) if len(parts) > 1 else 0, call__inbox=inbox)
            .filter(Q(provider_call_sid=request.call_sid) | Q(provider_call_sid=""))
            .first()
        )
        if monitor is None or not (len(parts) == 2 or status):
            # Not a leg Teamline placed on this inbox: nothing to join.
            return Script() if status else Script((Hangup(),))
        if status:
            if request.call_status in FINAL_STATUSES:
                do_end_monitoring(monitor, reason=f"the supervisor's leg: {request.call_status}")
            return Script()
        return self._join(monitor, request)

    def _join(self, monitor: CallMonitor, request: CallRequest) -> Script:
        call = monitor.call
        if not monitor.is_live:
            return Script((self._say("You stopped listening to this call."), Hangup()))
        if not call.is_live:
            do_end_monitoring(monitor, reason="the call ended before the supervisor answered")
            return Script((self._say("The call has ended."), Hangup()))
        with transaction.atomic():
            joined = CallMonitor.objects.filter(pk=monitor.pk, state=MonitorState.DIALING).update(
                state=MonitorState.LISTENING,
                answered_at=timezone.now(),
                provider_call_sid=monitor.provider_call_sid or request.call_sid,
            )
            if joined:
                _emit(monitor)
        agent = call.agent.name if call.agent else "the agent"
        customer = call.customer.display_name
        if monitor.mode == MonitorMode.COACH:
            intro = f"Coaching {agent} on the call with {customer}. Only {agent} hears you."
        else:
            intro = f"Listening to {agent}'s call with {customer}. Nobody hears you."
        room = Dial(
            conference=call.conference_name,
            muted=monitor.mode != MonitorMode.COACH,
            beep=False,
            start_on_enter=False,
            end_on_exit=False,
            coach=call.agent_call_sid if monitor.mode == MonitorMode.COACH else "",
        )
        return Script((self._say(intro), room))

    @staticmethod
    def _say(text: str) -> Say:
        return Say(text=text, language=SAY_LANGUAGE)
