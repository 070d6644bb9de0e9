"""Callbacks, appointments and the place in line on the desk.

Tags rather than view context, like routing_tags: every page and partial that shows a
conversation (the inbox list, the conversation status re-rendered by live updates) gets them the
same way without touching the views other features own. The sentence helpers are also used by
desk/scheduling_views.py.
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from teamline.accounts.models import User
from teamline.calls.models import Call, CallState
from teamline.calls.queries import last_dialled_call, live_call_of
from teamline.conversations.models import Conversation, Status
from teamline.customers.masking import Sensitive, shown
from teamline.routing.callbacks import live_callback
from teamline.routing.eta import queue_status
from teamline.routing.models import (
    LIVE_CALLBACK_STATES,
    Appointment,
    AppointmentKind,
    AppointmentState,
    Callback,
    CallbackState,
)
from teamline.routing.scheduling import may_record_outcome
from teamline.teams.models import Team

register = template.Library()


# --- Times ------------------------------------------------------------------------------------


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def utc_offset(local: datetime) -> str:
    """'UTC+01:00', 'UTC+05:30', 'UTC−03:00' ('UTC' at offset zero)."""
    offset = local.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds == 0:
        return "UTC"
    sign = "+" if seconds > 0 else "−"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def clock_in(team: Team | None, when: datetime, now: datetime) -> str:
    """'10:40', or '10:40 tomorrow', in the team's time zone."""
    tz = _zone(team.timezone if team is not None else "UTC")
    local = when.astimezone(tz)
    clock = local.strftime("%H:%M")
    days = (local.date() - now.astimezone(tz).date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"{clock} tomorrow"
    return f"{clock} on {local.strftime('%a')} {local.day} {local.strftime('%b')}"


@dataclass(frozen=True)
class SlotTime:
    """A moment told the way the desk shows appointment times: the team's local time, its time
    zone and offset from UTC, and the same moment in UTC (the same text in every browser)."""

    iso: str
    local: str
    zone: str
    offset: str
    utc: str

    @property
    def text(self) -> str:
        return f"{self.local} {self.zone} time ({self.offset}; {self.utc} UTC)"


def slot_time(team: Team, when: datetime) -> SlotTime:
    tz = _zone(team.timezone)
    local, utc = when.astimezone(tz), when.astimezone(UTC)
    # The UTC clock says its day when it is not the local one (00:30 in Oslo is 23:30 UTC).
    utc_text = utc.strftime("%H:%M" if utc.date() == local.date() else "%a %H:%M")
    return SlotTime(
        iso=utc.isoformat(),
        local=f"{local.strftime('%a')} {local.day} {local.strftime('%b %H:%M')}",
        zone=team.timezone or "UTC",
        offset=utc_offset(local),
        utc=utc_text,
    )


# --- Callbacks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackView:
    callback: Callback
    phone: str
    state_text: str
    can_record: bool

    @property
    def pk(self) -> int:
        return self.callback.pk


def callback_state_text(
    callback: Callback, conversation: Conversation, actor: User, now: datetime
) -> str:
    """'waiting', 'assigned to you', 'assigned to Ola Hansen' or 'retry at 10:40'."""
    if callback.state == CallbackState.ASSIGNED:
        agent_id = callback.agent_id or conversation.assignee_id
        if agent_id == actor.pk:
            return _("assigned to you")
        agent = callback.agent or conversation.assignee
        if agent is None:
            return _("assigned")
        return _("assigned to %(name)s") % {"name": agent.name}
    if callback.next_attempt_at is not None and callback.next_attempt_at > now:
        return _("retry at %(time)s") % {
            "time": clock_in(conversation.team, callback.next_attempt_at, now)
        }
    return _("waiting")


def callback_view(
    callback: Callback,
    conversation: Conversation,
    actor: User,
    now: datetime,
    *,
    supervised: set[int] | None = None,
) -> CallbackView:
    """What the desk shows of a live callback, and whether the actor may record its outcome
    (the API's rule: the agent on the call, a supervisor of the team or an admin)."""
    with_agent = callback.state == CallbackState.ASSIGNED
    if supervised is None:
        allowed = may_record_outcome(actor, conversation.assignee_id, conversation.team)
    else:
        allowed = (
            actor.is_admin
            or actor.pk == conversation.assignee_id
            or conversation.team_id in supervised
        )
    return CallbackView(
        callback=callback,
        phone=callback.phone,
        state_text=callback_state_text(callback, conversation, actor, now),
        can_record=with_agent and allowed,
    )


@register.simple_tag(takes_context=True)
def inbox_callbacks(context: dict[str, Any], conversations: Any) -> dict[int, CallbackView]:
    """The live callbacks of a list of conversations, keyed by conversation id, in two queries
    for the whole list — none when no conversation is a call (while a callback lives its
    conversation's channel kind is voice, so only those can have one)."""
    actor = context["request"].user
    rows = {c.pk: c for c in conversations if c.channel_kind == "voice"}
    if not rows:
        return {}
    callbacks = Callback.objects.filter(
        conversation_id__in=list(rows), state__in=LIVE_CALLBACK_STATES
    ).select_related("agent")
    found = list(callbacks)
    if not found:
        return {}
    supervised = set(actor.supervised_teams.values_list("pk", flat=True))
    now = timezone.now()
    return {
        cb.conversation_id: callback_view(
            cb, rows[cb.conversation_id], actor, now, supervised=supervised
        )
        for cb in found
    }


@register.inclusion_tag("desk/_callback.html", takes_context=True)
def callback_panel(context: dict[str, Any]) -> dict[str, Any]:
    """The conversation's live callback ("Call back +47…, assigned to you") or booked call in
    progress, with "Call <customer> now" for the agent it is with (the provider dials,
    calls/dialout.py) while no call with the customer is under way, and "Call done" / "No
    answer" for whoever may record the outcome by hand (not during a call: then the provider's
    status records it)."""
    request = context["request"]
    conversation: Conversation = context["conversation"]
    callback = live_callback(conversation.pk)
    view = None
    if callback is not None:
        view = callback_view(callback, conversation, request.user, timezone.now())
    booked = None
    live = None
    if conversation.channel_kind == "voice":
        booked = Appointment.objects.filter(
            conversation=conversation,
            state=AppointmentState.STARTED,
            kind=AppointmentKind.CALL,
        ).first()
    if booked is not None or callback is not None or conversation.channel_kind == "voice":
        # A callback asked for in the chat is dialled too: its call is on this conversation.
        live = live_call_of(conversation)
    last = None
    if live is None and callback is not None:
        last = last_dialled_call(conversation, callback.requested_at)
    elif live is None and booked is not None:
        last = last_dialled_call(conversation, booked.slot_start)
    mine = conversation.assignee_id == request.user.pk and live is None
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "conversation": conversation,
        "customer_name": shown(request.user, Sensitive.NAME, conversation.customer.display_name),
        "cb": view,
        "can_dial": mine and callback is not None and callback.state == CallbackState.ASSIGNED,
        "booked": booked,
        "can_dial_booked": mine and booked is not None and bool(booked.phone),
        "live_call": live,
        "call_note": call_note(live, last),
        "callback_error": context.get("callback_error"),
    }


# What the desk says of the call dialled for a callback or booked call, while it goes on and
# after it ended unanswered (the callback waits for its retry; "Call now" is back).
NO_ANSWER_WORDS = {
    "no-answer": gettext_lazy("The customer did not answer."),
    "busy": gettext_lazy("The customer's line was busy."),
    "canceled": gettext_lazy("The call was cancelled before the customer answered."),
    "failed": gettext_lazy("The call to the customer failed."),
    "the agent ended the call": gettext_lazy("You ended the call before the customer answered."),
    "the agent hung up before the customer answered": gettext_lazy(
        "You hung up before the customer answered."
    ),
}


def outcome_sentence(call: Call) -> str:
    """Why a dialled call ended, in the desk's words."""
    reason = call.end_reason or ""
    if call.answered_at is not None:
        return _("The call ended.")
    if reason in NO_ANSWER_WORDS:
        return str(NO_ANSWER_WORDS[reason])
    if reason.startswith("the agent's phone: "):
        status = reason.removeprefix("the agent's phone: ")
        return _("Your phone did not answer (%(status)s), so the customer was not called.") % {
            "status": status
        }
    if reason.startswith("failed: "):
        return _("The call failed: %(reason)s.") % {"reason": reason.removeprefix("failed: ")}
    if reason:
        return _("The call ended: %(reason)s.") % {"reason": reason}
    return _("The call ended.")


def call_note(live: Call | None, last: Call | None) -> dict[str, str] | None:
    """The line the callback panel shows about its call, with a key that changes whenever the
    line does (desk.js announces a new key once, after a live refresh)."""
    if live is not None:
        if live.state == CallState.CONNECTING:
            text = _("Dialling: your phone rings first, then the customer's.")
        elif live.state == CallState.HELD:
            text = _("On the call, on hold.")
        else:
            text = _("On the call: the customer answered.")
        return {"key": f"{live.pk}-{live.state}", "text": text}
    if last is not None:
        when = timezone.localtime(last.ended_at or last.created_at).strftime("%H:%M")
        text = _("Last call at %(time)s: %(outcome)s") % {
            "time": when,
            "outcome": outcome_sentence(last),
        }
        return {"key": f"{last.pk}-ended", "text": text}
    return None


# --- Place in line ----------------------------------------------------------------------------


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return _("under a minute")
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return _("about %(minutes)s min") % {"minutes": minutes}
    return _("about %(hours)s h %(minutes)s min") % {
        "hours": minutes // 60,
        "minutes": minutes % 60,
    }


def queue_sentence_for(conversation: Conversation, now: datetime) -> str:
    """'Position 3 in line, about 4 min' for a waiting conversation ('' otherwise)."""
    if conversation.assignee_id or conversation.status != Status.OPEN:
        return ""
    status = queue_status(conversation, now)
    if status is None or status.position is None:
        return ""
    where = {"position": status.position}
    if not status.serving:
        if status.answer_from:
            return _(
                "Position %(position)s in line, nobody serves it now; the team answers from "
                "%(answer_from)s"
            ) % {**where, "answer_from": status.answer_from}
        return _("Position %(position)s in line, nobody serves it now") % where
    if status.eta_seconds is None:
        return _("Position %(position)s in line, no wait estimate (nobody online to serve it)") % (
            where
        )
    return _("Position %(position)s in line, %(wait)s") % {
        **where,
        "wait": wait_text(status.eta_seconds),
    }


@register.simple_tag
def queue_sentence(conversation: Conversation) -> str:
    """Where a waiting conversation stands in line and how long it may wait (routing.eta)."""
    return queue_sentence_for(conversation, timezone.now())
