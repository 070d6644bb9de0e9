"""Browser calls: a customer calls their team from the web chat widget ("Call us", "Video
call"), or accepts an agent's invitation to switch a chat to video. The media flows between the
two browsers (WebRTC); Teamline decides who may call, queues and routes the call as a voice work
item like a phone call, and relays the browsers' signalling (offer, answer, ICE candidates)
between the call's customer and its accepted agent only — never stored.

Lock order: the conversation (conversations.locks) before the call row, as calls/actions.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.connectors.webchat import CHANNEL as WEBCHAT
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import Conversation, Inbox, Message, Status
from teamline.conversations.queries import current_conversation_for, system_message_channel
from teamline.conversations.replies import do_post_system_message
from teamline.core import jsonsafe
from teamline.core.errors import Conflict, InvalidInput, NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer
from teamline.customers.queries import customer_language
from teamline.routing.actions import switch_channel_kind
from teamline.routing.queries import waits_in_line
from teamline.teams.hours import admits, calendar_for, format_local, next_opening, service_mode
from teamline.teams.models import ServiceMode, Team

from .actions import do_abandon_in_line, do_end_call, do_open_call
from .models import LIVE_CALL_STATES, Call, CallMedium, CallState
from .queries import access_call

BROWSER_MEDIA = (CallMedium.AUDIO, CallMedium.VIDEO)
# Signalling flows once an agent took the call, until it ends.
TALKING_STATES = (CallState.CONNECTING, CallState.ACTIVE, CallState.HELD)
SIGNAL_KINDS = ("offer", "answer", "ice", "bye")
# A video offer from Chromium is 4-8 KB of SDP; twice that is room for every codec line.
MAX_SDP_CHARS = 16 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 64
MAX_UFRAG_CHARS = 256
# What Teamline writes in the customer's thread when they start a call (they see it too).
CALL_STARTED_TEXT = {
    CallMedium.AUDIO: "Voice call from the web chat",
    CallMedium.VIDEO: "Video call from the web chat",
}


def calls_allowed(inbox: Inbox) -> bool:
    """Whether the widget of `inbox` offers calls (inbox config `"calls": false` turns them
    off; they are on by default)."""
    return (inbox.config or {}).get("calls", True) is not False


def live_call_of_customer(customer_id: int) -> Call | None:
    """The customer's live call (of any medium): a customer is in one call at a time."""
    return (
        Call.objects.filter(customer_id=customer_id, state__in=LIVE_CALL_STATES)
        .order_by("-created_at", "-pk")
        .first()
    )


def _refuse_when_closed(team: Team | None, now: datetime) -> None:
    """InvalidInput saying when the team answers, if nobody of it takes a call now."""
    if team is None:
        return
    mode = service_mode(team, now)
    if admits(mode, urgent=False):
        return
    opens = next_opening(team, now)
    # Said to the customer in the widget, whose language is active.
    language = translation.get_language()
    when = (
        format_local(calendar_for(team, now=now), opens, now, language) if opens is not None else ""
    )
    if mode == ServiceMode.LIMITED and when:
        text = _("Your team takes urgent matters only now and answers calls again at {when}.")
    elif when:
        text = _("Your team is closed now and answers calls again at {when}.")
    else:
        text = _("Your team is closed now.")
    raise InvalidInput(text.format(when=when) + " " + _("You can still write to us here."))


def do_start_browser_call(
    *,
    inbox: Inbox,
    customer: Customer,
    medium: str,
    now: datetime | None = None,
    per_minute: int | None = None,
) -> Call:
    """The customer pressed "Call us" / "Video call" (or accepted an agent's invitation to
    video). The call joins the customer's one conversation (a new one when there is none: a
    customer message "Video call from the web chat"), which waits as a work item of channel
    kind voice: routed like a phone call, keeping its place if it already waited as a chat; a
    conversation already assigned stays with its agent, for whom the call rings.

    Refused (InvalidInput) for another medium, an inbox without calls, a team that takes no
    calls now (saying when it does — unless an agent already has the conversation); Conflict
    when the customer is already in a call (checked again under the conversation's lock).
    Locks the conversation. Emits what do_receive_customer_message, routing and do_open_call
    emit. `per_minute`: the customer's message rate, which the call's message counts in
    (do_receive_customer_message; RateLimited past it)."""
    if medium not in BROWSER_MEDIA:
        raise InvalidInput(_("A call from the web chat is audio or video."))
    if not calls_allowed(inbox):
        raise InvalidInput(_("This chat does not take calls; please write to us instead."))
    now = now or timezone.now()
    if live_call_of_customer(customer.pk) is not None:
        raise Conflict(_("You are already in a call."))
    current = current_conversation_for(customer.pk)
    with_an_agent = (
        current is not None and current.status == Status.OPEN and current.assignee_id is not None
    )
    if not with_an_agent:
        team = current.team if current is not None and current.status == Status.OPEN else None
        _refuse_when_closed(team or customer.home_team or inbox.default_team, now)
    with transaction.atomic():
        message, _created = do_receive_customer_message(
            inbox=inbox,
            customer=customer,
            text=CALL_STARTED_TEXT[CallMedium(medium)],
            channel=WEBCHAT,
            # One message per call: every start is a new call, never a resend.
            external_id=f"call:{uuid.uuid4()}",
            channel_kind="voice",
            content={"call": {"medium": medium}},
            per_minute=per_minute,
        )
        conversation = lock_conversation(message.conversation_id)
        if live_call_of_customer(customer.pk) is not None:
            raise Conflict(_("You are already in a call."))
        started_it = Message.objects.filter(conversation=conversation).count() == 1
        original = "" if started_it else conversation.channel_kind
        item = switch_channel_kind(conversation, "voice", now=now)
        call = do_open_call(
            conversation, medium=medium, work_item_id=item.pk if item else None, now=now
        )
        if original and original != "voice":
            Call.objects.filter(pk=call.pk).update(original_channel_kind=original)
            call.original_channel_kind = original
    return call


def access_customer_call(customer_id: int, call_id: object) -> Call:
    """The customer's own browser call `call_id`; NotFound for anything else (another
    customer's call looks exactly like one that does not exist)."""
    pk = parse_id(call_id, "call")
    call = (
        Call.objects.select_related("conversation")
        .filter(pk=pk, customer_id=customer_id, medium__in=BROWSER_MEDIA)
        .first()
    )
    if call is None:
        raise NotFound(_("No such call."))
    return call


def do_end_browser_call(call: Call, *, now: datetime | None = None) -> Call | None:
    """The customer hung up (pressed End, or closed the page). A call still waiting in line is
    an abandonment, as a caller hanging up in the IVR's queue: its work item closes
    `abandoned`, the timeline says how long they waited, and the conversation the call started
    is resolved (one that waited before as a chat waits again as a chat, in a new place in
    line). Idempotent: a call already ended returns None. Locks the conversation."""
    now = now or timezone.now()
    with transaction.atomic():
        conversation = lock_conversation(call.conversation_id)
        call.refresh_from_db()
        if call.state != CallState.WAITING:
            return do_end_call(call, reason="the customer hung up", now=now)
        ended = do_end_call(call, reason="the customer cancelled while waiting", now=now)
        if ended is None or call.work_item_id is None or not waits_in_line(call.work_item_id):
            return ended
        waited = max(0, int((now - call.created_at).total_seconds()))
        do_abandon_in_line(
            conversation,
            waited_seconds=waited,
            original_channel_kind=call.original_channel_kind,
            reason=f"the customer cancelled the call after waiting {waited} s in line",
            now=now,
            call_id=call.pk,
        )
    return ended


def do_invite_to_video(conversation: Conversation, *, actor: User) -> Message:
    """The agent with the conversation offers the customer to continue on video: a message from
    Teamline in the chat with a "Start video call" button in the widget. Accepting starts a
    video call (do_start_browser_call) that rings for this agent, since the conversation is
    theirs. Only the assignee may invite; only a customer in the web chat can take it."""
    if conversation.assignee_id != actor.pk:
        raise InvalidInput(_("Only the agent the conversation is assigned to can invite to video."))
    if conversation.status != Status.OPEN:
        raise InvalidInput(_("The conversation is not open."))
    target = system_message_channel(conversation)
    if target is None or target.channel != WEBCHAT:
        raise InvalidInput(
            _("The customer is not in the web chat: a video call can only be offered there.")
        )
    if live_call_of_customer(conversation.customer_id) is not None:
        raise Conflict(_("The customer is already in a call."))
    # The customer reads it, in their language (not the inviting agent's).
    config = conversation.inbox.config if conversation.inbox_id else None
    with translation.override(customer_language(conversation.customer, config)):
        text = _("{name} invites you to a video call.").format(name=actor.name)
    return do_post_system_message(conversation, text, content={"call_invite": {"medium": "video"}})


# --- Signalling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """One checked signalling frame: what the other browser receives."""

    call_id: int
    kind: str
    payload: dict[str, Any] | None

    def present(self, sender: str) -> dict[str, Any]:
        return {"call_id": self.call_id, "kind": self.kind, "payload": self.payload, "from": sender}


def _text(value: object, name: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise InvalidInput(f"{name} must be text.")
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.")
    return jsonsafe.check_text(value, name)


def _optional(value: object, name: str, limit: int) -> str | None:
    return None if value is None else _text(value, name, limit, empty=True)


def check_signal_payload(kind: object, payload: object) -> tuple[str, dict[str, Any] | None]:
    """(kind, payload) of a signalling frame in the one shape each kind has; InvalidInput
    naming what is wrong otherwise. Nothing unknown is passed on to the other browser."""
    if kind not in SIGNAL_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SIGNAL_KINDS)}.")
    assert isinstance(kind, str)
    if kind == "bye":
        if payload is not None:
            raise InvalidInput("A bye carries no payload.")
        return kind, None
    if kind == "ice":
        if payload is None:  # the end of the candidates
            return kind, None
        if not isinstance(payload, dict):
            raise InvalidInput("An ice payload is an RTCIceCandidate object.")
        unknown = set(payload) - {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
        if unknown:
            raise InvalidInput(f"Unknown ice fields: {', '.join(sorted(map(str, unknown)))}.")
        index = payload.get("sdpMLineIndex")
        if index is not None and (
            isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 255
        ):
            raise InvalidInput("sdpMLineIndex must be a small number.")
        return kind, {
            "candidate": _text(
                payload.get("candidate", ""), "candidate", MAX_CANDIDATE_CHARS, empty=True
            ),
            "sdpMid": _optional(payload.get("sdpMid"), "sdpMid", MAX_MID_CHARS),
            "sdpMLineIndex": index,
            "usernameFragment": _optional(
                payload.get("usernameFragment"), "usernameFragment", MAX_UFRAG_CHARS
            ),
        }
    if not isinstance(payload, dict) or set(payload) - {"type", "sdp"}:
        raise InvalidInput(f'An {kind} payload is {{"type": "{kind}", "sdp": …}}.')
    if payload.get("type", kind) != kind:
        raise InvalidInput(f"The description's type must be {kind}.")
    return kind, {"type": kind, "sdp": _text(payload.get("sdp"), "sdp", MAX_SDP_CHARS)}


def _talking(call: Call) -> None:
    if call.state not in TALKING_STATES or call.agent_id is None:
        raise Conflict(_("This call is not connected to an agent."))


def customer_signal(customer_id: int, frame: dict[str, Any]) -> tuple[Signal, int]:
    """A signalling frame from the customer's widget: (the signal, the agent's user id it goes
    to). Only the customer of the call, only once an agent took it."""
    kind, payload = check_signal_payload(frame.get("kind"), frame.get("payload"))
    call = access_customer_call(customer_id, frame.get("call_id"))
    _talking(call)
    assert call.agent_id is not None
    return Signal(call.pk, kind, payload), call.agent_id


def agent_signal(user: User, frame: dict[str, Any]) -> tuple[Signal, int]:
    """A signalling frame from an agent's desk: (the signal, the customer id it goes to). Only
    the agent who accepted the call; staff who may not see the conversation get NotFound, as
    for a call that does not exist."""
    kind, payload = check_signal_payload(frame.get("kind"), frame.get("payload"))
    call = access_call(user, frame.get("call_id"))
    if call.medium not in BROWSER_MEDIA:
        raise InvalidInput(_("A phone call is not signalled from the desk."))
    if call.agent_id != user.pk:
        raise InvalidInput(_("This call is not connected to you."))
    _talking(call)
    return Signal(call.pk, kind, payload), call.customer_id


def agent_browser_calls(user: User) -> list[Call]:
    """The browser calls `user` took and that have not ended: a desk page the agent opens picks
    their media up again (the agent's media live in one page of the desk)."""
    return list(
        Call.objects.filter(
            agent=user, medium__in=BROWSER_MEDIA, state__in=TALKING_STATES
        ).order_by("created_at", "pk")
    )


def agent_call_media(user: User, call_id: object) -> Call:
    """The browser call `call_id` if `user` is its agent (for its ICE servers)."""
    call = access_call(user, call_id)
    if call.medium not in BROWSER_MEDIA or call.agent_id != user.pk:
        raise NotFound(_("No such call."))
    return call


class SignalBudget:
    """Per-socket bound on signalling frames: a browser sends one offer or answer and a few
    dozen ICE candidates per call; a socket sending more is refused (rate_limited) until the
    window passes, so nobody floods the other side through Teamline."""

    def __init__(self, limit: int = 60, window_seconds: float = 10.0) -> None:
        self.limit, self.window = limit, window_seconds
        self.started, self.count = 0.0, 0

    def take(self, now: float) -> bool:
        if now - self.started >= self.window:
            self.started, self.count = now, 0
        self.count += 1
        return self.count <= self.limit
