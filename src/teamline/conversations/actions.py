"""Every write to conversations, messages, notes and the timeline.

Each action runs in one transaction, writes its timeline row and queues its events with
send_event_on_commit. Routing is asked for a decision inside the same transaction, through
routing.actions (the seam the full routing engine replaces).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from teamline.accounts.models import User
from teamline.connectors.models import Inbox
from teamline.core.errors import InvalidInput
from teamline.core.events import Event, EventType, send_event_on_commit
from teamline.customers.models import Customer

from .events import conversation_recipients, message_recipients
from .models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    SenderKind,
    Status,
    TimelineEvent,
    TimelineKind,
)
from .presenters import present_conversation, present_message, present_message_to_customer

MAX_TEXT = 10_000


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The message is empty.")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"The message is longer than {MAX_TEXT} characters.")
    return text


def emit_conversation(conversation: Conversation, event_type: EventType) -> None:
    send_event_on_commit(
        Event(event_type, staff=present_conversation(conversation)),
        conversation_recipients(conversation),
    )


def emit_message(message: Message) -> None:
    customer = None if message.is_internal else present_message_to_customer(message)
    send_event_on_commit(
        Event(EventType.MESSAGE_CREATED, staff=present_message(message), customer=customer),
        message_recipients(message),
    )


def record(
    conversation: Conversation, kind: str, *, actor: User | None = None, **data: Any
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        conversation=conversation, kind=kind, actor=actor, data=data
    )


def _home_team_for(customer: Customer, inbox: Inbox) -> Any:
    """The customer's home team, assigned on first contact from their region or the inbox."""
    if customer.home_team_id:
        return customer.home_team
    from teamline.teams.queries import team_for_region

    team = team_for_region(customer.region) or inbox.default_team
    Customer.objects.filter(pk=customer.pk, home_team__isnull=True).update(home_team=team)
    customer.home_team = team
    return team


def do_receive_customer_message(
    *,
    inbox: Inbox,
    customer: Customer,
    text: str,
    channel: str,
    external_id: str | None,
    channel_kind: str = "chat",
    content: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Store an inbound customer message; returns (message, created).

    Idempotent on (channel, external_id): a resend returns the stored message and changes
    nothing. Joins the customer's open conversation, reopens the latest one within the reopen
    window, or starts a new one; new and reopened conversations are routed.
    Emits message.created (staff + customer), conversation.created/updated.
    """
    text = _clean_text(text)
    if external_id:
        existing = Message.objects.filter(channel=channel, external_id=external_id).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            return _receive(
                inbox, customer, text, channel, channel_kind, external_id, content
            ), True
    except IntegrityError:
        # A concurrent resend of the same client/provider id won the race.
        existing = Message.objects.filter(channel=channel, external_id=external_id).first()
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
) -> Message:
    from teamline.routing import actions as routing

    now = timezone.now()
    conversation = (
        Conversation.objects.select_for_update()
        .filter(customer=customer)
        .order_by("-created_at", "-pk")
        .first()
    )
    reopen_window = timedelta(days=settings.TEAMLINE["REOPEN_WINDOW_DAYS"])
    needs_routing = False
    if conversation is None or (
        conversation.status == Status.RESOLVED
        and (conversation.resolved_at or now) < now - reopen_window
    ):
        team = _home_team_for(customer, inbox)
        conversation = Conversation.objects.create(
            customer=customer,
            inbox=inbox,
            team=team,
            channel=channel,
            channel_kind=channel_kind,
            status=Status.OPEN,
            waiting_since=now,
            last_message_at=now,
        )
        record(conversation, TimelineKind.CREATED, channel=channel)
        emit_conversation(conversation, EventType.CONVERSATION_CREATED)
        needs_routing = True
    elif conversation.status in (Status.RESOLVED, Status.SNOOZED, Status.PENDING):
        previous = conversation.status
        conversation.status = Status.OPEN
        conversation.resolved_at = None
        conversation.snoozed_until = None
        if previous == Status.RESOLVED:
            # Capacity was given back on resolve; the item re-enters routing with the last
            # agent preferred (customer.last_agent).
            conversation.assignee = None
            conversation.waiting_since = now
            needs_routing = True
        conversation.save(
            update_fields=["status", "resolved_at", "snoozed_until", "assignee", "waiting_since"]
        )
        record(
            conversation,
            TimelineKind.STATUS_CHANGED,
            old=previous,
            new=Status.OPEN,
            reason="customer wrote",
        )
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        sender_kind=SenderKind.CUSTOMER,
        channel=channel,
        text=text,
        content=content or {},
        external_id=external_id,
        delivery_status=DeliveryStatus.RECEIVED,
        created_at=now,
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now, updated_at=now, unread_count=F("unread_count") + 1
    )
    conversation.refresh_from_db()
    emit_message(message)
    if needs_routing:
        routing.route_conversation(conversation)
    else:
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED)
    return message


def do_send_reply(
    conversation: Conversation, text: str, *, actor: User, client_id: str | None = None
) -> tuple[Message, bool]:
    """An agent's reply to the customer, on the conversation's channel.

    Web chat delivers through the customer's socket (and the customer resyncs from the database
    on reconnect); other channels will deliver through the outbox (a task enqueued here).
    Idempotent on client_id per agent, also for simultaneous retries (the unique constraint
    decides; the loser returns the winner's message). Emits message.created to staff and customer.
    """
    text = _clean_text(text)
    external_id = f"agent{actor.pk}:{client_id}" if client_id else None
    if external_id:
        existing = Message.objects.filter(channel=conversation.channel, external_id=external_id)
        if found := existing.first():
            return found, False
    try:
        return _send_reply(conversation, text, actor=actor, external_id=external_id), True
    except IntegrityError:
        if external_id is None:
            raise
        # A concurrent retry with the same client id won the race.
        existing = Message.objects.filter(channel=conversation.channel, external_id=external_id)
        if (found := existing.first()) is None:
            raise
        return found, False


def _send_reply(
    conversation: Conversation, text: str, *, actor: User, external_id: str | None
) -> Message:
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            sender_kind=SenderKind.AGENT,
            sender_user=actor,
            channel=conversation.channel,
            text=text,
            external_id=external_id,
            delivery_status=DeliveryStatus.SENT,
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now, updated_at=now)
        conversation.refresh_from_db()
        emit_message(message)
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED)
    return message


def do_add_note(conversation: Conversation, text: str, *, actor: User) -> Message:
    """An internal note: staff only, never on a customer socket. Emits message.created (staff)."""
    text = _clean_text(text)
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


def do_change_status(
    conversation: Conversation,
    status: str,
    *,
    actor: User,
    snooze_until: datetime | None = None,
) -> Conversation:
    """Resolve, reopen, snooze or set pending. Locks the conversation row.

    Resolving or snoozing gives capacity back, so the agent is offered waiting work.
    Emits conversation.updated.
    """
    from teamline.routing import actions as routing

    if status not in Status.values:
        raise InvalidInput(f"Unknown status {status!r}.")
    if status == Status.SNOOZED and (snooze_until is None or snooze_until <= timezone.now()):
        raise InvalidInput("Snoozing needs a time in the future.")
    freed_agent = None
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
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
        if status == Status.OPEN and conv.assignee_id is None:
            conv.waiting_since = now
            conv.save(update_fields=["waiting_since"])
            routing.route_conversation(conv)
        else:
            emit_conversation(conv, EventType.CONVERSATION_UPDATED)
    if freed_agent is not None:
        routing.offer_waiting_work(freed_agent)
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
    """Reopen snoozed conversations whose time has come (periodic). Returns how many woke."""
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
                emit_conversation(conv, EventType.CONVERSATION_UPDATED)
                woken += 1
    return woken
