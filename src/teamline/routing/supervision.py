"""A supervisor takes a conversation over (docs/desk.md, "Supervising conversations").

The rest of chat supervision — the live list, watching, whispering, barging in — needs no
routing and is conversations/supervision.py; taking over is an assignment, so it goes through
routing's own (do_assign_conversation: the lock order, the work item, the `assigned` row and
assignment.changed), and the agent who lost it is offered waiting work like anyone whose
capacity frees up.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.conversations.events import record
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.conversations.presenters import present_conversation
from teamline.conversations.supervision import check_supervises, emit_supervision
from teamline.core.errors import Conflict
from teamline.core.events import Event, EventType, Recipients, send_event_on_commit, user_group

from .actions import do_assign_conversation, offer_waiting_work


def do_take_over_conversation(conversation: Conversation, *, actor: User) -> Conversation:
    """The supervisor (of the conversation's team, or an admin) becomes its assignee, whatever
    their presence and load; the previous agent is told (supervision.updated, and
    assignment.changed to them even outside the team's group) and offered waiting work.
    Conflict for a resolved conversation or one the supervisor already has. Locks agent
    profile, then conversation (do_assign_conversation); records `assigned` and `supervision`
    (action takeover)."""
    check_supervises(actor, conversation)
    if conversation.status == Status.RESOLVED:
        raise Conflict(_("This conversation is resolved; reopen it first."))
    if conversation.assignee_id == actor.pk:
        raise Conflict(_("You already have this conversation."))
    previous = conversation.assignee
    with transaction.atomic():
        result = do_assign_conversation(
            conversation,
            actor,
            actor=actor,
            reason=f"taken over by {actor.name}",
            require_member=False,
        )
        fresh = Conversation.objects.select_related("team", "customer", "assignee").get(
            pk=result.pk
        )
        record(
            fresh,
            TimelineKind.SUPERVISION,
            actor=actor,
            action="takeover",
            agent_id=previous.pk if previous else None,
            agent=previous.name if previous else "",
        )
        if previous is not None:
            send_event_on_commit(
                Event(EventType.ASSIGNMENT_CHANGED, staff=present_conversation(fresh)),
                Recipients(staff=frozenset({user_group(previous.pk)})),
            )
        emit_supervision(
            fresh,
            "takeover",
            actor=actor,
            agent_id=previous.pk if previous else None,
            also=[previous.pk if previous else None],
        )
    if previous is not None and fresh.status == Status.OPEN:
        # Their capacity is free again: waiting work is offered to them now.
        offer_waiting_work(previous)
    conversation.refresh_from_db()
    return conversation
