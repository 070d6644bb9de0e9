"""The phone IVR's writes: a call starts (the caller recognised by number), joins the
customer's conversation and the team's queue, and ends — as an abandonment when the caller hung
up waiting, or after its agent. selfservice/ivr.py decides what the caller hears and calls
these. Every self-service answer, on any channel, is recorded here too (do_record_episode),
with the customer's "Did this answer your question?" (do_rate_episode), so deflection can be
measured."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from teamline.calls.actions import do_abandon_in_line, do_end_call, do_open_call
from teamline.calls.models import Call, CallMedium, CallState
from teamline.calls.phone import (
    end_leg_quietly,
    phone_call_of,
)
from teamline.connectors.voice import (
    CallRequest,
)
from teamline.conversations.events import record
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import (
    Conversation,
    Inbox,
    InboxKind,
    Message,
    Priority,
    TimelineKind,
)
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.ids import parse_id
from teamline.core.jsonsafe import check_text
from teamline.customers.actions import do_resolve_sender
from teamline.customers.models import Customer
from teamline.routing.actions import (
    close_work_item,
    switch_channel_kind,
)
from teamline.routing.models import LIVE_STATES, WorkItem, WorkState
from teamline.routing.queries import waits_in_line

from .models import ContactSubject, EpisodeKind, SelfServiceEpisode, VoiceCall
from .voices import call_language

# A call status after which the call is over.
FINAL_STATUSES = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})


def do_start_call(inbox: Inbox, request: CallRequest, *, now: datetime) -> VoiceCall:
    """The call of this CallSid on this inbox, created on its first webhook: the caller is
    resolved by phone number (customers.actions.do_resolve_sender: the same customer as
    their SMS and WhatsApp) and the IVR language chosen. Idempotent on (inbox, CallSid)
    (unique constraint). Raises InvalidInput for a caller that is no phone number. Emits
    nothing: the call reaches the conversation when the caller asks for their team. One query
    for a call already known (every step after the first)."""
    existing = _calls().filter(inbox=inbox, call_sid=request.call_sid).first()
    if existing is not None:
        return existing
    customer, identity, _created = do_resolve_sender(
        "phone",
        request.caller,
        verified=True,  # the carrier delivered the call from this number
        home_team=inbox.default_team,
        default_region=(inbox.config or {}).get("default_region") or None,
    )
    try:
        with transaction.atomic():
            call = VoiceCall.objects.create(
                inbox=inbox,
                call_sid=request.call_sid,
                caller=identity.value,
                customer=customer,
                language=call_language(customer, identity.value, inbox),
                status=request.call_status or "in-progress",
                created_at=now,
            )
    except IntegrityError:
        # A concurrent first webhook of the same call created it: that row is the call.
        return _calls().get(inbox=inbox, call_sid=request.call_sid)
    call.inbox = inbox
    call.customer = customer
    return call


def _calls() -> QuerySet[VoiceCall]:
    """Calls with everything a step reads, in one query: the caller's team, the inbox's, and
    the conversation and work item once the caller joined the queue."""
    return VoiceCall.objects.select_related(
        "customer__home_team", "inbox__default_team", "conversation", "work_item"
    )


def do_queue_call(call: VoiceCall, *, now: datetime, urgent: bool = False) -> Conversation:
    """The caller asked for their team: the call joins the customer's conversation (one
    conversation whatever the channel; a message of channel `voice`, idempotent on the
    CallSid) and waits as a work item of channel kind voice. A new conversation is routed with
    kind voice at once; a conversation already waiting has its queued item turned voice
    (conditional on its version, same place in line); an assigned one stays with its agent.
    `urgent` (the caller chose the inbox's urgent option while the team takes urgent matters
    only): the conversation and its item are raised to urgent priority, which limited mode
    lets through to a human. Locks the conversation (after the message's own transaction).
    Emits what do_receive_customer_message and routing emit. `call` is as do_start_call loaded
    it for this step; it is updated in place (conversation, work item, queue time) for the rest
    of the step."""
    if call.conversation_id is not None and call.queued_at is not None:
        return Conversation.objects.get(pk=call.conversation_id)
    with transaction.atomic():
        message, _created = do_receive_customer_message(
            inbox=call.inbox,
            customer=call.customer,
            text="Phone call: the caller asked for their team",
            channel="voice",
            external_id=call.call_sid,
            channel_kind="voice",
            content={"call": {"sid": call.call_sid, "from": call.caller}},
        )
        conv = lock_conversation(message.conversation_id)
        new = Message.objects.filter(conversation=conv).count() == 1
        original = "" if new else conv.channel_kind
        item = switch_channel_kind(
            conv, "voice", now=now, priority=Priority.URGENT if urgent else None
        )
        VoiceCall.objects.filter(pk=call.pk).update(
            conversation=conv,
            work_item=item,
            queued_at=now,
            original_channel_kind=original,
        )
        if urgent:
            record(
                conv,
                TimelineKind.ROUTED,
                call="queued",
                call_sid=call.call_sid,
                urgent=True,
                reason="the caller chose the urgent option: the team takes urgent matters only",
            )
        else:
            record(conv, TimelineKind.ROUTED, call="queued", call_sid=call.call_sid)
        # The live call the desk rings, accepts and bridges (calls app).
        do_open_call(
            conv,
            medium=CallMedium.PHONE,
            inbox=call.inbox,
            provider_call_sid=call.call_sid,
            work_item_id=item.pk if item is not None else None,
            now=now,
        )
    conv.refresh_from_db()
    # The row as just written; `item` was read under the conversation's lock, after routing.
    call.conversation = conv
    call.work_item = item
    call.queued_at = now
    call.original_channel_kind = original
    return conv


def do_record_call_status(inbox: Inbox, request: CallRequest, *, now: datetime) -> None:
    """A status callback of the caller's leg. The first final status (completed, canceled,
    busy, failed, no-answer) ends the call (conditional update: a retry changes nothing) and
    its live Call (calls.actions.do_end_call, which puts an agent who had it in wrap-up; an
    agent's leg still ringing is hung up). Then, for the conversation:

    - Talked with an agent (or was being connected): the call's work item is done and the
      conversation stays open with the agent for their notes, as a written conversation again
      (its channel kind before the call, chat for one the call started, so it no longer holds
      the agent's voice slot).
    - Still waiting in line, or ringing for an agent who had not accepted it (and no callback
      asked for): an abandonment. The work item closes `abandoned`, the timeline records the
      time waited, and the conversation the call started is resolved (one that waited before
      the call goes back to its own channel kind and queue, or stays with its agent).

    Two transactions, each in the documented lock order: the call rows (and the agent's
    wrap-up, after them), then the conversation."""
    call = VoiceCall.objects.filter(inbox=inbox, call_sid=request.call_sid).first()
    if call is None:
        return
    status = request.call_status or "unknown"
    if status not in FINAL_STATUSES:
        VoiceCall.objects.filter(pk=call.pk, ended_at__isnull=True).update(status=status[:16])
        return
    ringing_leg = ""
    with transaction.atomic():
        ended = VoiceCall.objects.filter(pk=call.pk, ended_at__isnull=True).update(
            status=status[:16], ended_at=now
        )
        if not ended:
            return
        live = phone_call_of(inbox, call.call_sid)
        if live is not None:
            ringing_leg = _end_live_call(live, status, now)
    # The caller's leg ending ends the room, and with it an agent leg that was in it; one still
    # ringing is hung up here.
    end_leg_quietly(inbox, ringing_leg)
    if call.conversation_id is None or call.callback_requested or call.work_item_id is None:
        return
    with transaction.atomic():
        conv = lock_conversation(call.conversation_id)
        if live is not None and live.agent_id is not None:
            _after_the_call(conv, call, live, now)
        elif call.queued_at is not None and (
            waits_in_line(call.work_item_id) or _rang_unanswered(live, call.work_item_id)
        ):
            _abandoned(conv, call, now)


def _rang_unanswered(live: Call | None, work_item_id: int) -> bool:
    """The call was ringing for an agent who had not accepted it, on a voice item the call
    made (not the assigned chat an agent already had, which the call only joined)."""
    return (
        live is not None
        and live.agent_id is None
        and WorkItem.objects.filter(
            pk=work_item_id, state=WorkState.ASSIGNED, channel_kind="voice"
        ).exists()
    )


def _end_live_call(live: Call, status: str, now: datetime) -> str:
    """End the caller's live Call; returns the agent leg still ringing for it, if any."""
    if live.state == CallState.WAITING:
        reason = f"the caller hung up while waiting ({status})"
    elif live.state == CallState.CONNECTING:
        reason = f"the caller hung up before the agent's phone was connected ({status})"
    else:
        reason = f"the caller hung up ({status})"
    ringing_leg = live.agent_call_sid if live.state == CallState.CONNECTING else ""
    do_end_call(live, reason=reason, now=now)
    return ringing_leg


def _after_the_call(conv: Conversation, call: VoiceCall, live: Call, now: datetime) -> None:
    """The call with its agent is over: its work item is done and the conversation, still
    open with the agent, is a written conversation again."""
    close_work_item(conv, now=now)
    if conv.channel_kind == "voice":
        kind = call.original_channel_kind or "chat"
        Conversation.objects.filter(pk=conv.pk).update(channel_kind=kind, updated_at=now)
    record(
        conv,
        TimelineKind.ROUTED,
        call="ended",
        call_sid=call.call_sid,
        agent_id=live.agent_id,
        reason="the call is over; the conversation stays open for the agent's notes",
    )


def _abandoned(conv: Conversation, call: VoiceCall, now: datetime) -> None:
    assert call.queued_at is not None
    waited = max(0, int((now - call.queued_at).total_seconds()))
    VoiceCall.objects.filter(pk=call.pk).update(abandoned_after_seconds=waited)
    do_abandon_in_line(
        conv,
        waited_seconds=waited,
        original_channel_kind=call.original_channel_kind,
        reason=f"the caller hung up after waiting {waited} s in line",
        now=now,
        call_sid=call.call_sid,
    )


# How long after an episode a human contact counts against it (docs/selfservice.md).
DEFLECTION_WINDOW = timedelta(hours=24)
# Where an episode can happen: an inbox kind, or the public help center.
EPISODE_CHANNELS = frozenset(InboxKind.values) | {"help"}


def do_record_episode(
    kind: str,
    *,
    channel: str,
    subject: str,
    customer: Customer | None = None,
    conversation: Conversation | None = None,
    now: datetime | None = None,
) -> SelfServiceEpisode:
    """One self-service answer given (an article opened from a suggestion, a bot flow
    completed, an SMS keyword answered, the IVR's balance or outages heard): the unit
    deflection is counted in (selfservice/deflection.py; its 24 h end with it). `subject` is
    an intent name or `article:<id>`. Raises InvalidInput for a kind, channel or subject it does
    not know, so a caller's typo cannot invent a channel in the figures."""
    if kind not in EpisodeKind.values:
        raise InvalidInput(f"Unknown self-service episode kind {kind!r}.")
    if channel not in EPISODE_CHANNELS:
        raise InvalidInput(f"Unknown channel {channel!r}.")
    subject = _subject(subject)
    now = now or timezone.now()
    return SelfServiceEpisode.objects.create(
        kind=kind,
        channel=channel,
        subject=subject,
        customer=customer,
        conversation=conversation,
        created_at=now,
        window_ends_at=now + DEFLECTION_WINDOW,
    )


def _subject(subject: str) -> str:
    subject = check_text((subject or "").strip(), "subject")
    if not subject or len(subject) > 64:
        raise InvalidInput("A subject is 1 to 64 characters.")
    return subject


# Who may say what a human contact is about.
CONTACT_SUBJECT_SOURCES = frozenset({"bot", "classifier", "agent"})


def do_tag_contact_subject(
    conversation: Conversation, subject: str, *, source: str, now: datetime | None = None
) -> ContactSubject | None:
    """The human contact the conversation is (or last was) waiting for is about `subject`, in
    the episodes' words (an intent: `balance`, `outage`, …): the bot calls this when it hands a
    customer over, in the handoff's transaction after routing made the work item; a
    classifier may call it later. The contact then counts against the customer's episodes of
    that subject only (docs/selfservice.md, "Deflection"). Tags the conversation's live work
    item, else its latest; returns None when it never had one (nothing reached a person).
    Tagging again replaces the subject (one row per work item: update_or_create on the unique
    work item). Raises InvalidInput for an empty, too long or unsafe subject or an unknown
    source. Emits nothing."""
    if source not in CONTACT_SUBJECT_SOURCES:
        raise InvalidInput(f"Unknown source {source!r}.")
    subject = _subject(subject)
    items = WorkItem.objects.filter(conversation=conversation)
    item_id = (
        items.filter(state__in=LIVE_STATES).values_list("pk", flat=True).first()
        or items.order_by("-enqueued_at", "-pk").values_list("pk", flat=True).first()
    )
    if item_id is None:
        return None
    tag, _created = ContactSubject.objects.update_or_create(
        work_item_id=item_id,
        defaults={"subject": subject, "source": source, "created_at": now or timezone.now()},
    )
    return tag


def do_rate_episode(customer: Customer, episode_id: object, *, helpful: bool) -> None:
    """The customer's answer to "Did this answer your question?" on one of their own episodes
    (`helpful`; a later answer replaces an earlier one). The id comes from a client: it is
    resolved among this customer's episodes only, in one conditional UPDATE (no read first),
    and anything else — unknown, somebody else's — raises NotFound. Emits nothing."""
    pk = parse_id(episode_id, "episode")
    updated = SelfServiceEpisode.objects.filter(pk=pk, customer=customer).update(helpful=helpful)
    if not updated:
        raise NotFound("No such answer.")
