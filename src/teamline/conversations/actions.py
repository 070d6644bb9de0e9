"""Every write to conversations, messages, notes and the timeline.

Each action runs in one transaction, writes its timeline row and queues its events with
send_event_on_commit. Routing is asked for a decision, and connectors for a delivery task,
inside the same transaction through conversations/hooks.py: those apps sit above this one and
provide the hooks at start-up (docs/adr/0005-dependency-direction.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.compiled import CompiledInsert, CompiledUpdate
from teamline.core.errors import InvalidInput
from teamline.core.events import Event, EventType, send_event_on_commit
from teamline.customers.actions import lock_customers_for_merge, merge_locked_customers
from teamline.customers.models import Customer, CustomerMerge
from teamline.teams.queries import team_for_region

from . import hooks
from .attachments import PreparedAttachment, file_summary, store_attachment
from .events import (
    conversation_recipients,
    emit_conversation,
    emit_message,
    emit_message_updated,
    record,
)
from .locks import lock_conversation, lock_latest_conversation, lock_presented_conversation
from .models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Inbox,
    Message,
    SenderKind,
    Status,
    TimelineKind,
)
from .presenters import present_message
from .queries import (
    CHANNEL_LABELS,
    ReplyChannel,
    choose_reply_channel,
    participants_of_locked,
    system_message_channel,
    template_reply_channel,
)
from .redaction import redact_inbound, redact_text

logger = logging.getLogger(__name__)

MAX_TEXT = 10_000
WEBCHAT = "webchat"


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The message is empty.")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"The message is longer than {MAX_TEXT} characters.")
    return text


def _home_team_for(customer: Customer, inbox: Inbox) -> Any:
    """The customer's home team, assigned on first contact from their region or the inbox."""
    if customer.home_team_id:
        return customer.home_team
    team = team_for_region(customer.region) or inbox.default_team
    Customer.objects.filter(pk=customer.pk, home_team__isnull=True).update(home_team=team)
    customer.home_team = team
    return team


def _stored_inbound(inbox: Inbox, channel: str, external_id: str | None) -> Message | None:
    """The message already stored for this provider id on this inbox (the unique key's scope:
    provider ids are unique per provider account, not per channel)."""
    return Message.objects.filter(inbox=inbox, channel=channel, external_id=external_id).first()


def do_receive_customer_message(
    *,
    inbox: Inbox,
    customer: Customer,
    text: str,
    channel: str,
    external_id: str | None,
    channel_kind: str = "chat",
    content: dict[str, Any] | None = None,
    attachments: Sequence[PreparedAttachment] = (),
    defer_routing: bool = False,
    admit_new_conversation: Callable[[], None] | None = None,
    new_customer: bool = False,
    savepoint: bool = True,
) -> tuple[Message, bool]:
    """Store an inbound customer message; returns (message, created).

    Idempotent on (inbox, channel, external_id): a resend returns the stored message and
    changes nothing. The unique index decides, not a read first: a resend's INSERT fails and
    its transaction rolls back whole, so only a resend pays for the lookup of what is stored.
    Locks the customer's latest conversation (with the rows its events present, read in the
    same statement) and loads the experts taking part in it once for all its events.
    `admit_new_conversation` (the widget's limit on new conversations per address) is called
    under that lock when this message starts or reopens a conversation; what it raises
    (RateLimited) undoes the message.
    Joins the customer's open conversation — whatever channel it started on; each
    message keeps its own `channel` and `inbox` — reopens the latest one within the reopen
    window, or starts a new one; new and reopened conversations are routed. Attachments
    (already checked by conversations.attachments.prepare_attachment) are stored with it; a
    message with attachments or structured content may have no text. `defer_routing` (the
    worker's inbound pipeline) leaves the decision to the batch router (routing/batch.py).
    Emits message.created (staff + customer), conversation.created/updated.
    Card numbers, IBANs, national ids and one-time codes are masked first, by the inbox's
    setting (conversations.redaction): nothing after this line sees them.

    `new_customer`: the customer was created in the caller's transaction (customers.actions.
    do_resolve_sender said so), so they have no conversation to lock, no routing preference
    and no earlier contact: none is looked up. A new conversation is inserted with its first
    message's counters (no UPDATE after it). `savepoint=False`: no savepoint of its own (two
    statements less); a resend's refused INSERT then propagates, and the caller, whose
    transaction it spoils, rolls back and runs again with a savepoint
    (connectors.tasks.process_event).
    """
    has_text = bool((text or "").strip())
    text = _clean_text(text) if has_text or not (attachments or content) else ""
    # Checked as typed (a mask may be longer than what it hides), then masked.
    text, content, attachments = redact_inbound(inbox, text, content, attachments)
    try:
        with transaction.atomic(savepoint=savepoint):
            message = _receive(
                inbox,
                customer,
                text,
                channel,
                channel_kind,
                external_id,
                content,
                defer_routing,
                admit_new_conversation,
                new_customer,
            )
            for prepared in attachments:
                store_attachment(message, prepared)
            return message, True
    except IntegrityError:
        if not savepoint:
            raise  # the caller's transaction is spoilt: the caller runs it again
        # A resend (or a concurrent one that won the race): the unique (channel, external_id,
        # inbox) index refused the INSERT and the whole transaction rolled back.
        existing = _stored_inbound(inbox, channel, external_id) if external_id else None
        if existing is None:
            raise
        return existing, False


_REOPEN_FIELDS = ["status", "resolved_at", "snoozed_until", "assignee", "waiting_since"]
_COUNTERS = ["last_message_at", "updated_at", "unread_count"]
# The writes of every inbound message and agent reply, compiled once (core/compiled.py): the
# message, and the conversation's counters (with its status when the message reopens it: one
# UPDATE) or, for a first message, the new conversation.
_insert_message = CompiledInsert(Message)
_write_counters = CompiledUpdate(Conversation, _COUNTERS)
_write_reopened = CompiledUpdate(Conversation, _REOPEN_FIELDS + _COUNTERS)
_insert_conversation = CompiledInsert(Conversation)
_write_reply_time = CompiledUpdate(Conversation, ["last_message_at", "updated_at"])


def _receive(
    inbox: Inbox,
    customer: Customer,
    text: str,
    channel: str,
    channel_kind: str,
    external_id: str | None,
    content: dict[str, Any] | None,
    defer_routing: bool,
    admit_new_conversation: Callable[[], None] | None = None,
    new_customer: bool = False,
) -> Message:
    now = timezone.now()
    conversation = None if new_customer else lock_latest_conversation(customer.pk)
    taker = hooks.replies() if conversation is not None else None
    if taker is not None and conversation is not None:
        # An answer to something Teamline asked (a survey score) is stored quietly: no reopen,
        # no routing, no unread (conversations/hooks.py, Replies).
        reply = taker.take_reply(conversation, channel=channel, text=text, content=content or {})
        if reply is not None:
            return _store_quiet_reply(
                conversation, reply, inbox, text, channel, external_id, content, now
            )
    reopen_window = timedelta(days=settings.TEAMLINE["REOPEN_WINDOW_DAYS"])
    needs_routing = created = False
    participants: Sequence[int]
    if conversation is None or (
        conversation.status == Status.RESOLVED
        and (conversation.resolved_at or now) < now - reopen_window
    ):
        team = _home_team_for(customer, inbox)
        # Inserted with the counters of its first message (stored below): no UPDATE after it.
        conversation = Conversation(
            customer=customer,
            inbox=inbox,
            team=team,
            channel=channel,
            channel_kind=channel_kind,
            status=Status.OPEN,
            waiting_since=now,
            last_message_at=now,
            updated_at=now,
            unread_count=1,
        )
        _insert_conversation.insert(conversation)
        record(conversation, TimelineKind.CREATED, channel=channel)
        participants = ()  # nobody was invited to a conversation this transaction starts
        emit_conversation(conversation, EventType.CONVERSATION_CREATED, participants=participants)
        needs_routing = created = True
    else:
        # Loaded once for every event of this transaction (nobody joins in between: an
        # invitation locks this row too).
        participants = participants_of_locked(conversation)
    reopened_from = None
    if not needs_routing and conversation.status in (
        Status.RESOLVED,
        Status.SNOOZED,
        Status.PENDING,
    ):
        # Reopened; written below, once self-service said whether it answers instead.
        reopened_from = conversation.status
        conversation.status = Status.OPEN
        conversation.resolved_at = None
        conversation.snoozed_until = None
        if reopened_from == Status.RESOLVED or conversation.assignee_id is None:
            # Capacity was given back on resolve; the item re-enters routing with the last
            # agent preferred (customer.last_agent). An unassigned thread waits again too.
            conversation.assignee = None
            conversation.waiting_since = now
            needs_routing = True
    # Customer sentiment for the agents' wellbeing: scored from the text alone, no query. The
    # key is Teamline's: whatever a client sent under it is dropped, never taken as a score.
    mood = hooks.sentiment().score_message(text, customer.preferred_language)
    if mood is not None or (content and "sentiment" in content):
        content = {k: v for k, v in (content or {}).items() if k != "sentiment"}
        if mood is not None:
            content["sentiment"] = mood
    message = _customer_message(conversation, inbox, channel, text, content or {}, external_id, now)
    if admit_new_conversation is not None and (needs_routing or reopened_from is not None):
        # After the INSERT, so a resend (refused by the unique index above) is never counted.
        admit_new_conversation()
    # The row is locked (select_for_update above) or was created in this transaction, so the
    # in-memory values are current: no re-read of the conversation on this hot path. Set before
    # the event, which carries the conversation as it now stands (no conversation.updated).
    if not created:
        conversation.last_message_at = now
        conversation.updated_at = now
        conversation.unread_count += 1
    # A reopened conversation changed which inbox views show it (docs/events.md: a message's
    # conversation never does): its own conversation.updated follows, below.
    emit_message(
        message,
        participants=participants,
        with_conversation=not needs_routing and reopened_from is None,
    )
    # Self-service (selfservice: a bot, an SMS keyword) may answer instead of a person.
    held = hooks.self_service().take_message(
        conversation, message, needs_routing=needs_routing, new_conversation=created
    )
    # The conversation's row is written once: its counters, with its status when it changed.
    status_changed = False
    if held:
        # Waiting on the customer, not on an agent: in nobody's queue while self-service answers.
        previous = reopened_from or conversation.status
        conversation.status = Status.PENDING
        conversation.waiting_since = None
        needs_routing = False
        if previous != Status.PENDING:
            status_changed = True
            record(
                conversation,
                TimelineKind.STATUS_CHANGED,
                old=previous,
                new=Status.PENDING,
                reason="self-service is answering",
            )
    elif reopened_from is not None:
        status_changed = True
        record(
            conversation,
            TimelineKind.STATUS_CHANGED,
            old=reopened_from,
            new=Status.OPEN,
            reason="customer wrote",
        )
    if status_changed:
        _write_reopened.update(conversation)
    elif not created:
        _write_counters.update(conversation)
    if needs_routing:
        hooks.routing().route_conversation(
            conversation, defer=defer_routing, current=True, new_customer=new_customer
        )
    elif held or reopened_from is not None:
        # Self-service took it after message.created was presented, or the customer reopened it
        # with its agent: the state the desks' lists follow changed.
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED, participants=participants)
    return message


def _customer_message(
    conversation: Conversation,
    inbox: Inbox,
    channel: str,
    text: str,
    content: dict[str, Any],
    external_id: str | None,
    now: datetime,
) -> Message:
    """INSERT the customer's inbound message (a resend hits the unique external-id index)."""
    message = Message(
        conversation=conversation,
        direction=Direction.INBOUND,
        sender_kind=SenderKind.CUSTOMER,
        channel=channel,
        inbox=inbox,
        text=text,
        content=content,
        external_id=external_id,
        delivery_status=DeliveryStatus.RECEIVED,
        created_at=now,
    )
    _insert_message.insert(message)
    return message


def _store_quiet_reply(
    conversation: Conversation,
    reply: hooks.QuietReply,
    inbox: Inbox,
    text: str,
    channel: str,
    external_id: str | None,
    content: dict[str, Any] | None,
    now: datetime,
) -> Message:
    """The customer's message that answers a question (hooks.Replies), on their conversation as
    it is: the status, queue and unread count stay. Emits message.created (staff + customer)."""
    message = _customer_message(
        conversation, inbox, channel, text, {**(content or {}), **reply.note}, external_id, now
    )
    emit_message(message, participants=participants_of_locked(conversation))
    reply.on_stored(message)
    return message


def do_receive_automated_message(
    *,
    inbox: Inbox,
    customer: Customer,
    text: str,
    channel: str,
    external_id: str | None,
    content: dict[str, Any] | None = None,
    attachments: Sequence[PreparedAttachment] = (),
) -> tuple[Message | None, bool]:
    """An auto-reply, bounce or other machine message from the customer's side.

    Recorded on the customer's latest conversation as a SYSTEM message flagged `automated` —
    never as the customer writing: it does not reopen, route, or count as unread, and the
    customer never sees it. Returns (None, False) when the customer has no conversation to
    attach it to. Idempotent on (inbox, channel, external_id). Emits message.created to staff
    only.
    """
    text, content, attachments = redact_inbound(inbox, text, content, attachments)
    text = (text or "").strip()[:MAX_TEXT] or "(automated message)"
    if external_id:
        existing = _stored_inbound(inbox, channel, external_id)
        if existing:
            return existing, False
    conversation = (
        Conversation.objects.filter(customer=customer).order_by("-created_at", "-pk").first()
    )
    if conversation is None:
        return None, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                direction=Direction.INBOUND,
                sender_kind=SenderKind.SYSTEM,
                channel=channel,
                inbox=inbox,
                text=text,
                content=content or {},
                external_id=external_id,
                automated=True,
                delivery_status=DeliveryStatus.RECEIVED,
            )
            for prepared in attachments:
                store_attachment(message, prepared)
            send_event_on_commit(
                Event(EventType.MESSAGE_CREATED, staff=present_message(message)),
                conversation_recipients(conversation),
            )
            return message, True
    except IntegrityError:
        existing = _stored_inbound(inbox, channel, external_id)
        if existing is None:
            raise
        return existing, False


# An inbound message's files its provider did not hand over at first (busy, silent), to be
# fetched again by connectors (connectors.actions.do_refetch_attachments): a list of entries,
# each numbered ("n"), counting the fetches made ("attempts") and saying how to fetch it.
PENDING_ATTACHMENTS = "attachment_pending"


def do_settle_pending_attachments(
    message_id: int,
    outcomes: Mapping[int, PreparedAttachment | str | None],
    *,
    attempt: int,
) -> tuple[Message | None, bool]:
    """What fetching an inbound message's pending files again (content["attachment_pending"])
    brought, by entry number: a file (stored with the message, the entry gone), a final note
    (added to content["attachment_errors"], the entry gone) or None (still pending: the entry
    counts this fetch, attempt `attempt` after the first).

    Locks the message row. An entry no longer pending — settled by a doubled or an earlier
    task — is left alone, so a file is never attached twice. Returns (message, again): None
    when the message is gone; `again` when this call counted the fetch on an entry still
    pending, and the caller schedules the next one in this transaction (a doubled task of the
    same attempt finds it counted and schedules nothing). The file names are masked by the
    inbox's redaction, as on receipt. Emits message.updated (staff) when a file or a note was
    added."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            return None, False
        content = dict(message.content or {})
        entries = content.get(PENDING_ATTACHMENTS)
        pending = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        notes = list(content.get("attachment_errors") or [])
        files: list[PreparedAttachment] = []
        kept: list[dict[str, Any]] = []
        again = False
        for entry in pending:
            number = entry.get("n")
            if not isinstance(number, int) or number not in outcomes:
                kept.append(entry)
                continue
            outcome = outcomes[number]
            if isinstance(outcome, PreparedAttachment):
                files.append(outcome)
            elif isinstance(outcome, str):
                notes.append(outcome)
            else:
                if entry.get("attempts") == attempt:
                    entry = {**entry, "attempts": attempt + 1}
                    again = True
                kept.append(entry)
        settled = len(kept) < len(pending)
        if not settled and not again:
            return message, False
        if kept:
            content[PENDING_ATTACHMENTS] = kept
        else:
            content.pop(PENDING_ATTACHMENTS, None)
        if notes:
            content["attachment_errors"] = notes
        _, _, masked = redact_inbound(message.inbox, "", None, files)
        for prepared in masked:
            store_attachment(message, prepared)
        Message.objects.filter(pk=message.pk).update(content=content)
        message.content = content
        if settled:
            emit_message_updated(message)
    return message, again


# Delivery progress only moves forward; FAILED is terminal.
DELIVERY_RANK = {
    DeliveryStatus.QUEUED.value: 1,
    DeliveryStatus.SENT.value: 2,
    DeliveryStatus.DELIVERED.value: 3,
    DeliveryStatus.READ.value: 4,
}


def do_update_delivery_status(
    channel: str,
    provider_message_id: str,
    status: str,
    error: str = "",
    *,
    inbox: Inbox | None = None,
) -> Message | None:
    """A provider's delivery receipt for one of our outbound messages.

    Never moves a status backwards (queued < sent < delivered < read) and never leaves
    FAILED; `failed` applies only before delivery. One conditional UPDATE decides, so receipts
    arriving out of order or twice are harmless. With `inbox` (the provider account the receipt
    came through) only messages sent through it are looked at: provider ids are unique per
    account, not across accounts. Returns the message (changed or not), or None if no message
    on `channel` has that provider id. Emits message.updated (staff) on change.
    """
    if not provider_message_id:
        return None
    candidates = Message.objects.filter(channel=channel, provider_message_id=provider_message_id)
    if inbox is not None:
        candidates = candidates.filter(inbox=inbox)
    message = candidates.select_related("conversation", "sender_user").order_by("pk").first()
    if message is None:
        return None
    changes: dict[str, Any]
    if status == DeliveryStatus.FAILED:
        allowed = [DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value]
        changes = {"delivery_status": status, "delivery_error": (error or "failed")[:2000]}
    elif status in DELIVERY_RANK:
        allowed = [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[status]]
        changes = {"delivery_status": status}
    else:
        return message
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, delivery_status__in=allowed).update(
            **changes
        )
        if updated:
            message.refresh_from_db()
            emit_message_updated(message)
    return message


def do_record_send_result(
    message: Message, *, provider_message_id: str, status: str, segments: int | None
) -> Message:
    """The provider accepted an outbound message: keep its id (status callbacks name it), the
    status it reported (queued or sent) and SMS segments. Emits message.updated (staff)."""
    status = status if status in DELIVERY_RANK else DeliveryStatus.SENT.value
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, delivery_status=DeliveryStatus.QUEUED).update(
            provider_message_id=provider_message_id[:255],
            delivery_status=status,
            segments=segments,
            delivery_error="",
        )
        message.refresh_from_db()
        emit_message_updated(message)
    return message


def do_fail_delivery(message: Message, reason: str) -> Message:
    """The outbox gave up (permanent provider error, or too many transient ones): FAILED with
    the provider's reason, shown to the agent. Emits message.updated (staff)."""
    with transaction.atomic():
        Message.objects.filter(
            pk=message.pk,
            delivery_status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENT],
        ).update(delivery_status=DeliveryStatus.FAILED, delivery_error=(reason or "failed")[:2000])
        message.refresh_from_db()
        emit_message_updated(message)
    return message


def do_schedule_delivery_retry(message: Message, reason: str, *, run_after: datetime) -> Message:
    """A transient provider error: note it on the message (still queued) and enqueue the next
    attempt in the same transaction (the task table is the outbox). Emits message.updated."""
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(delivery_error=f"Retrying: {reason}"[:2000])
        hooks.channels().enqueue_delivery(message.pk, run_after=run_after)
        message.refresh_from_db()
        emit_message_updated(message)
    return message


def do_send_reply(
    conversation: Conversation,
    text: str,
    *,
    actor: User,
    client_id: str | None = None,
    via: str | None = None,
    options: Sequence[ReplyChannel] | None = None,
    attachments: Sequence[PreparedAttachment] = (),
    template: dict[str, Any] | None = None,
    template_inbox_id: int | None = None,
) -> tuple[Message, bool]:
    """An agent's reply to the customer.

    It goes out on the channel the customer used last, or on `via` — the key of one of the
    customer's channels from conversations.queries.reachable_channels (InvalidInput if it is
    not one of them or is not reachable now). `options`: that list when the caller already
    has it (the desk renders it), so it is not read again. Web chat delivers through the
    customer's socket (status sent; the widget resyncs from the database on reconnect). Every
    other channel goes through the outbox: the message is stored QUEUED and its delivery task
    is enqueued in the same transaction (hooks.channels().enqueue_delivery).
    `attachments` (checked by conversations.attachments.prepare_agent_attachments) are stored
    with it; the text may then be empty. `template`: a WhatsApp template message (the Cloud
    API object, built and checked against the synced template by connectors.templates) sent
    through the WhatsApp inbox `template_inbox_id` whatever the 24-hour window (the only way
    to reach the customer there after it); `text` is what the customer reads, for the desk.
    Idempotent on client_id per agent, also for simultaneous retries (the unique constraint
    decides; the loser returns the winner's message). Locks the conversation row (with the rows
    its events present, read in the same statement). Emits message.created to staff and
    customer, conversation.updated to staff.
    """
    if template is not None and attachments:
        raise InvalidInput(_("A template cannot carry attachments."))
    text = "" if attachments and not (text or "").strip() else _clean_text(text)
    external_id = f"agent{actor.pk}:{client_id}" if client_id else None
    target: ReplyChannel | None
    if template is not None:
        if template_inbox_id is None:
            raise InvalidInput(_("Say which WhatsApp inbox the template belongs to."))
        target = template_reply_channel(conversation, template_inbox_id, options=options)
    else:
        target = choose_reply_channel(conversation, via, options=options)
    # Masked by the setting of the inbox it goes out through (conversations.redaction).
    text = redact_text(target.inbox if target and target.inbox else conversation.inbox, text)
    # An agent's client id is unique per agent whatever the inbox, so the lookup spans the
    # conversation's channels; the unique (channel, external_id, inbox) index answers it.
    channels = sorted({conversation.channel, target.channel if target else conversation.channel})
    try:
        message = _send_reply(
            conversation,
            text,
            actor=actor,
            external_id=external_id,
            via=target,
            channels=channels,
            attachments=attachments,
            template=template,
        )
        return message, True
    except _AlreadySent as sent:
        return sent.message, False
    except IntegrityError:
        if external_id is None:
            raise
        # A concurrent retry with the same client id won the race.
        existing = Message.objects.filter(channel__in=channels, external_id=external_id)
        if (found := existing.first()) is None:
            raise
        return found, False


class _AlreadySent(Exception):
    """A retry of a reply that is stored: found under the conversation's lock."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.pk)
        self.message = message


def _send_reply(
    conversation: Conversation,
    text: str,
    *,
    actor: User,
    external_id: str | None,
    via: ReplyChannel | None,
    channels: Sequence[str],
    attachments: Sequence[PreparedAttachment] = (),
    template: dict[str, Any] | None = None,
) -> Message:
    now = timezone.now()
    channel = via.channel if via else conversation.channel
    inbox = via.inbox if via else conversation.inbox
    outbox = channel != WEBCHAT
    content: dict[str, Any] = {}
    if outbox and via is not None:
        content["to"] = {"kind": via.to_kind, "value": via.to}
    if template is not None:
        content["template"] = template
    with transaction.atomic():
        # The row as it is now (status, assignee) for the event, and a retry's stored reply,
        # in one statement.
        replayed = {}
        if external_id:
            stored = Message.objects.filter(channel__in=channels, external_id=external_id)
            replayed["replayed_id"] = Subquery(stored.order_by("pk").values("pk")[:1])
        conv = lock_presented_conversation(conversation.pk, **replayed)
        replayed_id = getattr(conv, "replayed_id", None)
        if replayed_id is not None:
            raise _AlreadySent(Message.objects.get(pk=replayed_id))
        message = Message(
            conversation=conv,
            direction=Direction.OUTBOUND,
            sender_kind=SenderKind.AGENT,
            sender_user=actor,
            channel=channel,
            inbox=inbox,
            text=text,
            content=content,
            external_id=external_id,
            delivery_status=DeliveryStatus.QUEUED if outbox else DeliveryStatus.SENT,
            created_at=now,
        )
        _insert_message.insert(message)
        if attachments:
            files = [store_attachment(message, prepared) for prepared in attachments]
            # Named in the content too, so the customer's payload links them without a query
            # (presenters.present_message_to_customer).
            message.content = {**content, "attachments": [file_summary(a) for a in files]}
            message.save(update_fields=["content"])
        if outbox:
            hooks.channels().enqueue_delivery(message.pk)
        conv.last_message_at = now
        conv.updated_at = now
        _write_reply_time.update(conv)
        # The first human answer of the waiting contact (the KPI facts, analytics).
        hooks.analytics().human_replied(conv.pk, actor.pk, now)
        participants = participants_of_locked(conv)
        emit_message(message, participants=participants, with_conversation=True)
    # The caller's instance becomes what was just read and written (as a refresh would).
    for field in Conversation._meta.concrete_fields:
        setattr(conversation, field.attname, getattr(conv, field.attname))
    conversation._state.fields_cache = dict(conv._state.fields_cache)
    return message


def do_add_note(conversation: Conversation, text: str, *, actor: User) -> Message:
    """An internal note: staff only, never on a customer socket. Masked like a reply.
    Emits message.created (staff)."""
    text = redact_text(conversation.inbox, _clean_text(text))
    with transaction.atomic():
        conversation.refresh_from_db()
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.INTERNAL,
            sender_kind=SenderKind.AGENT,
            sender_user=actor,
            channel=conversation.channel,
            text=text,
            is_internal=True,
            delivery_status=DeliveryStatus.SENT,
        )
        record(conversation, TimelineKind.NOTE_ADDED, actor=actor, message_id=message.pk)
        emit_message(message)
    return message


def do_add_internal_record(
    conversation: Conversation,
    text: str,
    *,
    channel: str,
    external_id: str,
    inbox: Inbox | None = None,
    content: dict[str, Any] | None = None,
    attachments: Sequence[PreparedAttachment] = (),
    timeline: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """A staff-only message Teamline itself adds to the conversation (a call's recording):
    internal like a note, so it never reaches the customer, and its attachments are served
    only through the access-checked attachment view. Idempotent on (channel, external_id,
    inbox): a retried task finds the message it stored and returns (message, False) without
    storing the files again. Records `timeline` (a `call` row) with it; emits message.created
    (staff)."""
    text = _clean_text(text)
    existing = Message.objects.filter(channel=channel, external_id=external_id, inbox=inbox).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                direction=Direction.INTERNAL,
                sender_kind=SenderKind.SYSTEM,
                channel=channel,
                inbox=inbox,
                text=text,
                content=content or {},
                is_internal=True,
                external_id=external_id,
                delivery_status=DeliveryStatus.SENT,
            )
            for prepared in attachments:
                store_attachment(message, prepared)
            if timeline:
                record(conversation, TimelineKind.CALL, message_id=message.pk, **timeline)
            emit_message(message)
    except IntegrityError:
        # A concurrent run stored it first: theirs stands.
        return Message.objects.get(channel=channel, external_id=external_id, inbox=inbox), False
    return message, True


def do_change_status(
    conversation: Conversation,
    status: str,
    *,
    actor: User | None,
    snooze_until: datetime | None = None,
) -> Conversation:
    """Resolve, reopen, snooze or set pending; `actor` None is a change Teamline makes itself
    (routing, the IVR), recorded without an actor. Locks the conversation row.

    Resolving or snoozing gives capacity back, so the agent is offered waiting work.
    Emits conversation.updated.
    """
    routing = hooks.routing()
    if status not in Status.values:
        raise InvalidInput(f"Unknown status {status!r}.")
    if status == Status.SNOOZED and (snooze_until is None or snooze_until <= timezone.now()):
        raise InvalidInput("Snoozing needs a time in the future.")
    freed_agent = None
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        previous = conv.status
        if previous == status and status != Status.SNOOZED:
            return conv
        now = timezone.now()
        conv.status = status
        conv.updated_at = now
        conv.snoozed_until = snooze_until if status == Status.SNOOZED else None
        conv.resolved_at = now if status == Status.RESOLVED else None
        if status == Status.RESOLVED:
            conv.unread_count = 0  # resolving is handling: nothing is left unread
        if status != Status.OPEN:
            conv.waiting_since = None
            routing.close_work_item(conv, now=now)
            if previous == Status.OPEN and conv.assignee_id:
                freed_agent = conv.assignee
        conv.save(
            update_fields=[
                "status",
                "updated_at",
                "snoozed_until",
                "resolved_at",
                "waiting_since",
                "unread_count",
            ]
        )
        record(conv, TimelineKind.STATUS_CHANGED, actor=actor, old=previous, new=status)
        if status == Status.RESOLVED:
            hooks.analytics().resolved(conv.pk, now)
        resolutions = hooks.resolutions()
        if status == Status.RESOLVED and resolutions is not None:
            # In this transaction: what follows a resolution (a survey) is enqueued durably.
            resolutions.conversation_resolved(conv, now=now)
        if status == Status.RESOLVED and conv.assignee_id:
            hooks.sentiment().conversation_handled(conv, now=now)
        if status == Status.OPEN and conv.assignee_id is None:
            conv.waiting_since = now
            conv.save(update_fields=["waiting_since"])
            routing.route_conversation(conv)
        else:
            emit_conversation(conv, EventType.CONVERSATION_UPDATED)
    if freed_agent is not None:
        # After voice the agent wraps up first; otherwise they are offered waiting work.
        routing.agent_freed(freed_agent, channel_kind=conv.channel_kind)
    conversation.refresh_from_db()
    return conversation


def do_mark_read(conversation: Conversation, *, actor: User) -> None:
    """The assignee opened the conversation: its unread count drops to zero."""
    if conversation.assignee_id != actor.pk or conversation.unread_count == 0:
        return
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED)


def do_wake_snoozed(now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come (periodic); an unassigned one is routed.
    Returns how many woke."""
    routing = hooks.routing()
    now = now or timezone.now()
    woken = 0
    for conv in Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now):
        with transaction.atomic():
            updated = Conversation.objects.filter(
                pk=conv.pk, status=Status.SNOOZED, snoozed_until__lte=now
            ).update(status=Status.OPEN, snoozed_until=None, updated_at=now)
            if updated:
                conv.refresh_from_db()
                record(
                    conv,
                    TimelineKind.STATUS_CHANGED,
                    old=Status.SNOOZED,
                    new=Status.OPEN,
                    reason="snooze ended",
                )
                if conv.assignee_id is None:
                    Conversation.objects.filter(pk=conv.pk).update(waiting_since=now)
                    routing.route_conversation(conv, now=now)
                else:
                    emit_conversation(conv, EventType.CONVERSATION_UPDATED)
                woken += 1
    return woken


def do_post_system_message(
    conversation: Conversation,
    text: str,
    *,
    content: dict[str, Any] | None = None,
    now: datetime | None = None,
    sender_kind: str = SenderKind.SYSTEM,
    via: ReplyChannel | None = None,
) -> Message:
    """A message from Teamline itself to the customer (routing's honest promise "Team Oslo is
    closed right now. A person will answer your message from 09:00.", appointment reminders,
    callback and appointment notices, the bot's answers: `sender_kind` bot).

    It goes out the way an agent's reply does by default: on the channel the customer used
    last, or their first channel that can be used now (queries.system_message_channel). Web
    chat delivers through the customer's socket (status sent); every other channel through the
    outbox: stored QUEUED with its delivery task enqueued in the same transaction. When the
    customer cannot be reached there now (WhatsApp window closed, opted out, no inbox or
    address) the message is stored FAILED with the reason — agents see it like
    any failed delivery — and logged; nothing is raised, so routing and scheduling carry on.
    `via`: the channel the caller chose instead (proactive notices pick the customer's
    preferred reachable channel, a WhatsApp template outside the window).
    Inserts the message (and its task) only: no conversation row lock. Emits message.created
    (staff + customer)."""
    text = _clean_text(text)
    target = via if via is not None else system_message_channel(conversation)
    channel = target.channel if target else conversation.channel
    stored: dict[str, Any] = dict(content or {})
    error = reason = ""
    if channel != WEBCHAT:
        if target is None:
            reason = "no address or inbox is known"
            name = CHANNEL_LABELS.get(channel, channel)
            error = f"The customer cannot be reached by {name}: {reason}"
        elif not target.reachability.reachable:
            reason = target.reachability.reason or "not reachable now"
            error = f"The customer cannot be reached by {target.label} now: {reason}"
        elif target.inbox is None:
            reason = "the inbox for this channel is missing"
            error = f"The customer cannot be reached by {target.label}: {reason}"
        else:
            stored["to"] = {"kind": target.to_kind, "value": target.to}
    if error:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.SENT if channel == WEBCHAT else DeliveryStatus.QUEUED
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            sender_kind=sender_kind,
            channel=channel,
            inbox=target.inbox if target else None,
            text=text,
            content=stored,
            delivery_status=status,
            delivery_error=error,
            created_at=now or timezone.now(),
        )
        if status == DeliveryStatus.QUEUED:
            hooks.channels().enqueue_delivery(message.pk)
        emit_message(message)
    if error:
        # The reason only: the customer's address stays out of the log.
        logger.warning(
            "system message %s of conversation %s not sent on %s: %s",
            message.pk,
            conversation.pk,
            channel,
            reason,
        )
    return message


def do_open_proactive_conversation(
    customer: Customer,
    *,
    inbox: Inbox,
    channel: str,
    route: bool,
    note: str = "",
    now: datetime | None = None,
) -> Conversation:
    """A conversation Teamline opens itself for a customer who has none (proactive care).

    `route=False` (a notice about to be posted): stored RESOLVED — a notice waits on nobody —
    so the customer's reply reopens it and routes it to their team as usual (_receive).
    `route=True` (a rule asking the team to reach out): OPEN, waiting and routed to the
    customer's home team, with `note` as an internal record of why. Records `created`; emits
    conversation.created (and the routing's events)."""
    now = now or timezone.now()
    with transaction.atomic():
        team = _home_team_for(customer, inbox)
        conversation = Conversation.objects.create(
            customer=customer,
            inbox=inbox,
            team=team,
            channel=channel,
            channel_kind="email" if channel == "email" else "chat",
            status=Status.OPEN if route else Status.RESOLVED,
            waiting_since=now if route else None,
            resolved_at=None if route else now,
            created_at=now,
            updated_at=now,
            last_message_at=now,
        )
        record(conversation, TimelineKind.CREATED, channel=channel, proactive=True)
        emit_conversation(conversation, EventType.CONVERSATION_CREATED)
        if note:
            Message.objects.create(
                conversation=conversation,
                direction=Direction.INTERNAL,
                sender_kind=SenderKind.SYSTEM,
                channel=channel,
                inbox=inbox,
                text=_clean_text(note),
                is_internal=True,
                delivery_status=DeliveryStatus.SENT,
                created_at=now,
            )
        if route:
            hooks.routing().route_conversation(conversation, now=now)
    return conversation


def do_merge_customers(
    source: Customer, target: Customer, *, actor: User, reason: str = ""
) -> CustomerMerge:
    """Merge `source` into `target`: an explicit, audited agent decision, never automatic.

    Moves every identity and conversation of `source` to `target`, copies attributes `target`
    lacks (and its name/home team if `target` has none), marks `source.merged_into` and writes
    a CustomerMerge row listing exactly what moved (customers.actions does the customers' side).
    Locks both customer rows (lower id first), then moves the conversations.
    Emits conversation.updated for each moved conversation.
    """
    with transaction.atomic():
        src, dst = lock_customers_for_merge(source, target)
        conversation_ids = list(
            Conversation.objects.filter(customer=src).order_by("pk").values_list("pk", flat=True)
        )
        Conversation.objects.filter(pk__in=conversation_ids).update(customer=dst)
        merge = merge_locked_customers(
            src, dst, actor=actor, reason=reason, conversation_ids=conversation_ids
        )
        for conversation in Conversation.objects.filter(pk__in=conversation_ids).select_related(
            "team", "assignee", "customer"
        ):
            emit_conversation(conversation, EventType.CONVERSATION_UPDATED)
    target.refresh_from_db()
    return merge
