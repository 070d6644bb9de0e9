"""Every write to a conversation itself: its status (resolve, reopen, snooze, pending), its
read mark, snoozes ending, a conversation Teamline opens itself (proactive care) and customers
merged; and what the message writes share (the text's bounds, the home team, the INSERT).

The messages' writes are split by idea: conversations/inbound.py (a customer's and an automated
message, files fetched again), replies.py (an agent's reply, notes, internal records, Teamline's
own messages) and delivery.py (providers' receipts and the outbox's outcomes).

Each action runs in one transaction, writes its timeline row and queues its events with
send_event_on_commit. Routing is asked for a decision, and connectors for a delivery task,
inside the same transaction through conversations/hooks.py: those apps sit above this one and
provide the hooks at start-up (docs/adr/0005-dependency-direction.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from teamline.accounts.models import User
from teamline.core.compiled import CompiledInsert
from teamline.core.errors import InvalidInput
from teamline.core.events import EventType
from teamline.customers.actions import lock_customers_for_merge, merge_locked_customers
from teamline.customers.models import Customer, CustomerMerge
from teamline.teams.queries import team_for_region

from . import hooks
from .events import emit_conversation, record
from .locks import lock_conversation
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

MAX_TEXT = 10_000
WEBCHAT = "webchat"


def clean_text(text: str) -> str:
    """A message's text, stripped: InvalidInput when empty or longer than MAX_TEXT."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The message is empty.")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"The message is longer than {MAX_TEXT} characters.")
    return text


def home_team_for(customer: Customer, inbox: Inbox) -> Any:
    """The customer's home team, assigned on first contact from their region or the inbox."""
    if customer.home_team_id:
        return customer.home_team
    team = team_for_region(customer.region) or inbox.default_team
    Customer.objects.filter(pk=customer.pk, home_team__isnull=True).update(home_team=team)
    customer.home_team = team
    return team


# A message's INSERT, compiled once (core/compiled.py): every inbound message and agent reply.
insert_message = CompiledInsert(Message)


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
        team = home_team_for(customer, inbox)
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
                text=clean_text(note),
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
