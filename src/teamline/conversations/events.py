"""Recipients of conversation and message events: the one tested place that decides who hears
what. Internal notes go to staff only."""

from __future__ import annotations

from collections.abc import Iterable

from teamline.core.events import (
    Recipients,
    admins_group,
    customer_group,
    team_group,
    user_group,
)

from .models import Conversation, Message


def conversation_recipients(
    conversation: Conversation, participants: Iterable[int] | None = None
) -> Recipients:
    """The conversation's team, admins, its assignee and the experts taking part in it
    (`participants`: their ids when the caller loaded them for many conversations at once)."""
    from teamline.routing.queries import participant_ids

    if participants is None:
        participants = participant_ids(conversation.pk)
    staff = {team_group(conversation.team_id), admins_group()}
    if conversation.assignee_id:
        staff.add(user_group(conversation.assignee_id))
    staff.update(user_group(user_id) for user_id in participants)
    return Recipients(staff=frozenset(staff))


def message_recipients(message: Message) -> Recipients:
    staff = conversation_recipients(message.conversation).staff
    if message.is_internal:
        return Recipients(staff=staff)
    return Recipients(
        staff=staff, customer=frozenset({customer_group(message.conversation.customer_id)})
    )
