"""A customer's message coming in (any channel), an automated one from their side (auto-replies,
bounces), and the files a provider handed over only later: stored, routed and pushed.

Each action runs in one transaction, writes its timeline row and queues its events with
send_event_on_commit (conversations/actions.py says how the app's writes are split).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.core.compiled import CompiledInsert, CompiledUpdate
from teamline.core.errors import RateLimited
from teamline.core.events import Event, EventType, send_event_on_commit
from teamline.customers.models import Customer

from . import hooks
from .actions import MAX_TEXT, clean_text, home_team_for, insert_message
from .attachments import PreparedAttachment, store_attachment
from .events import (
    conversation_recipients,
    emit_conversation,
    emit_message,
    emit_message_updated,
    record,
)
from .locks import lock_latest_conversation
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
from .queries import participants_of_locked
from .redaction import redact_inbound

_REOPEN_FIELDS = ["status", "resolved_at", "snoozed_until", "assignee", "waiting_since"]
_RATE = ["inbound_minute", "inbound_in_minute"]
_COUNTERS = ["last_message_at", "updated_at", "unread_count", *_RATE]
# The writes of every inbound message, compiled once (core/compiled.py): the conversation's
# counters (with its status when the message reopens it: one UPDATE) or, for a first message,
# the new conversation. The message's own INSERT is actions.insert_message.
_write_counters = CompiledUpdate(Conversation, _COUNTERS)
_write_reopened = CompiledUpdate(Conversation, _REOPEN_FIELDS + _COUNTERS)
_insert_conversation = CompiledInsert(Conversation)
_write_rate = CompiledUpdate(Conversation, _RATE)


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
    per_minute: int | None = None,
) -> tuple[Message, bool]:
    """Store an inbound customer message; returns (message, created).

    Idempotent on (inbox, channel, external_id): a resend returns the stored message and
    changes nothing. The unique index decides, not a read first: a resend's INSERT fails and
    its transaction rolls back whole, so only a resend pays for the lookup of what is stored.
    Locks the customer's latest conversation (with the rows its events present, read in the
    same statement) and loads the experts taking part in it once for all its events.
    `admit_new_conversation` (the widget's limit on new conversations per address) is called
    under that lock when this message starts or reopens a conversation; what it raises
    (RateLimited) undoes the message. `per_minute`: the most messages this customer may send
    in a minute (the widget's and the app's limit), counted on the locked conversation row
    (every inbound customer message counts, whatever its channel); one more raises RateLimited
    and nothing is stored.
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
    text = clean_text(text) if has_text or not (attachments or content) else ""
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
                per_minute,
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
    per_minute: int | None = None,
) -> Message:
    now = timezone.now()
    conversation = None if new_customer else lock_latest_conversation(customer.pk)
    if conversation is not None:
        _count_inbound(conversation, now, per_minute)
    taker = hooks.replies() if conversation is not None else None
    if taker is not None and conversation is not None:
        # An answer to something Teamline asked (a survey score) is stored quietly: no reopen,
        # no routing, no unread (conversations/hooks.py, Replies).
        reply = taker.take_reply(conversation, channel=channel, text=text, content=content or {})
        if reply is not None:
            _write_rate.update(conversation)
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
        team = home_team_for(customer, inbox)
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
            inbound_minute=int(now.timestamp()) // 60,
            inbound_in_minute=1,
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


def _count_inbound(conversation: Conversation, now: datetime, per_minute: int | None) -> None:
    """Count this message in the customer's rate on their locked conversation row (written with
    the row's other counters); RateLimited past `per_minute` in this minute."""
    seconds = int(now.timestamp())
    minute = seconds // 60
    in_minute = conversation.inbound_in_minute + 1 if conversation.inbound_minute == minute else 1
    if per_minute is not None and in_minute > per_minute:
        raise RateLimited(
            _("Too many messages at once: please wait a moment and send it again."),
            retry_after=60 - seconds % 60,
        )
    conversation.inbound_minute = minute
    conversation.inbound_in_minute = in_minute


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
    insert_message.insert(message)
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


def pending_attachments(message: Message) -> list[dict[str, Any]]:
    """The message's entries in content["attachment_pending"] that name their number ("n");
    anything else there is left alone."""
    entries = (message.content or {}).get(PENDING_ATTACHMENTS)
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("n"), int)]


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
