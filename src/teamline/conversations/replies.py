"""What goes to the customer or stays with staff from Teamline's side: an agent's reply (the
outbox for every channel but web chat), internal notes and records, and Teamline's own
messages (routing's promises, reminders, the bot's answers).

Each action runs in one transaction, writes its timeline row and queues its events with
send_event_on_commit (conversations/actions.py says how the app's writes are split).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.compiled import CompiledUpdate
from teamline.core.errors import InvalidInput

from . import hooks
from .actions import WEBCHAT, clean_text, insert_message
from .attachments import PreparedAttachment, file_summary, store_attachment
from .events import emit_message, record
from .locks import lock_presented_conversation
from .models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Inbox,
    Message,
    SenderKind,
    TimelineKind,
)
from .queries import (
    CHANNEL_LABELS,
    ReplyChannel,
    choose_reply_channel,
    participants_of_locked,
    system_message_channel,
    template_reply_channel,
)
from .redaction import redact_text

logger = logging.getLogger(__name__)

# The conversation's reply time, compiled once (core/compiled.py).
_write_reply_time = CompiledUpdate(Conversation, ["last_message_at", "updated_at"])


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
    text = "" if attachments and not (text or "").strip() else clean_text(text)
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
        insert_message.insert(message)
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
    text = redact_text(conversation.inbox, clean_text(text))
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
    text = clean_text(text)
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
    text = clean_text(text)
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
