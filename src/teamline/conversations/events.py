"""Conversation and message events: who hears what (the one tested place that decides it;
internal notes go to staff only), the emitters every action uses, and the timeline row.

The emitters only queue: core.events.send_event_on_commit sends after the surrounding
transaction commits. Routing, transfers and customer merges emit through these too, so each
event family has one presenter and one recipient rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from teamline.accounts.models import User
from teamline.core.compiled import CompiledInsert
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    customer_group,
    send_event_on_commit,
    send_events_on_commit,
    team_group,
    user_group,
)

from .models import Conversation, Message, TimelineEvent
from .presenters import present_conversation, present_message, present_message_to_customer
from .queries import participant_ids, participants_by_conversation


def conversation_recipients(
    conversation: Conversation, participants: Iterable[int] | None = None
) -> Recipients:
    """The conversation's team, admins, its assignee and the experts taking part in it
    (`participants`: their ids when the caller loaded them for many conversations at once)."""
    if participants is None:
        participants = participant_ids(conversation.pk)
    staff = {team_group(conversation.team_id), admins_group()}
    if conversation.assignee_id:
        staff.add(user_group(conversation.assignee_id))
    staff.update(user_group(user_id) for user_id in participants)
    return Recipients(staff=frozenset(staff))


def message_recipients(message: Message, participants: Iterable[int] | None = None) -> Recipients:
    staff = conversation_recipients(message.conversation, participants).staff
    if message.is_internal:
        return Recipients(staff=staff)
    return Recipients(
        staff=staff, customer=frozenset({customer_group(message.conversation.customer_id)})
    )


def emit_conversation(
    conversation: Conversation,
    event_type: EventType,
    *,
    participants: Iterable[int] | None = None,
) -> None:
    """`participants`: the experts' ids when the caller already loaded them in this
    transaction (an action emitting several events loads them once)."""
    send_event_on_commit(
        Event(event_type, staff=present_conversation(conversation)),
        conversation_recipients(conversation, participants),
    )


def emit_conversations(conversations: Sequence[Conversation], event_type: EventType) -> None:
    """emit_conversation for many conversations (batch routing): one query for the experts
    taking part in them, one push after commit."""
    if not conversations:
        return
    participants = participants_by_conversation(c.pk for c in conversations)
    send_events_on_commit(
        [
            (
                Event(event_type, staff=present_conversation(conversation)),
                conversation_recipients(conversation, participants.get(conversation.pk, [])),
            )
            for conversation in conversations
        ]
    )


def emit_message(
    message: Message,
    *,
    participants: Iterable[int] | None = None,
    with_conversation: bool = False,
) -> None:
    """`participants` as for emit_conversation. `with_conversation`: the staff payload carries
    the conversation as it stands after this message (`"conversation"`, as conversation.updated
    presents it), in place of a separate conversation.updated — one frame per desk, not two."""
    customer = None if message.is_internal else present_message_to_customer(message)
    staff = present_message(message)
    if with_conversation:
        staff["conversation"] = present_conversation(message.conversation)
    send_event_on_commit(
        Event(EventType.MESSAGE_CREATED, staff=staff, customer=customer),
        message_recipients(message, participants),
    )


def emit_message_updated(message: Message) -> None:
    """Delivery progress (queued → sent → delivered → read, or failed), or a customer's file
    fetched again (or given up): staff only."""
    send_event_on_commit(
        Event(EventType.MESSAGE_UPDATED, staff=present_message(message)),
        conversation_recipients(message.conversation),
    )


def record(
    conversation: Conversation, kind: str, *, actor: User | None = None, **data: Any
) -> TimelineEvent:
    """The conversation's timeline row (audit) for `kind`; callers run it inside their action's
    transaction."""
    row = TimelineEvent(conversation=conversation, kind=kind, actor=actor, data=data)
    _insert_timeline_event.insert(row)
    return row


# Nearly every action writes one: compiled once (core/compiled.py).
_insert_timeline_event = CompiledInsert(TimelineEvent)
