"""An agent declines work routing offered them: they rejected a ringing call, or let it ring out.

Routing gives a call to an agent by assigning its conversation; the call rings until the agent
accepts it. When they decline (or do not answer in time), the conversation goes back to the
queue exactly where it stood — its work item keeps its enqueue time and rank, so the customer
keeps their place in line — and the agent is added to the item's `declined_by`, which the
engine honours everywhere an agent is picked (item-driven decisions, the batch router, offers
to a freed agent): the same agent is not offered the same item again. An explicit transfer or a
supervisor's reassignment may still give it to them.

Locks: the conversation (conversations.locks), then its work item, like a transfer; the routing
decision that follows claims in routing's order (agent profile → conversation) after the release
committed when the caller holds no outer transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from teamline.accounts.models import User
from teamline.conversations.events import conversation_recipients, record
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.conversations.presenters import present_conversation
from teamline.core.errors import InvalidInput
from teamline.core.events import Event, EventType, Recipients, send_event_on_commit, user_group

from . import engine
from .actions import _route, enqueue_conversation
from .models import LIVE_STATES, QueueEntry, WorkItem, WorkState
from .queries import policy_by_id


def do_decline_work(
    conversation: Conversation,
    agent: User,
    *,
    reason: str,
    actor: User | None = None,
    now: datetime | None = None,
    route: bool = True,
) -> Conversation:
    """`agent` gives back the conversation routing assigned them, without having taken it on.

    The conversation is unassigned and waits again with its work item's original enqueue time
    and rank (the customer keeps their place); `agent` joins the item's `declined_by`; a
    sticky last-agent step pointing at them is skipped. Records `unassigned` (agent, reason,
    declined) and emits assignment.changed to the conversation's recipients and the agent.
    With `route` (the default), routing decides again at once; otherwise the caller does
    (`route_declined`) after its own transaction. InvalidInput when the conversation is not
    assigned to `agent` any more."""
    now = now or timezone.now()
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        if conv.assignee_id != agent.pk or conv.status != Status.OPEN:
            raise InvalidInput("This is no longer offered to you.")
        row = WorkItem.objects.filter(conversation=conv, state__in=LIVE_STATES).first()
        if row is None:
            # Assigned outside routing: it enters the queue now.
            row = enqueue_conversation(conv, now=now)
        declined = sorted({*(row.declined_by or []), agent.pk})
        changes: dict[str, object] = {
            "state": WorkState.QUEUED,
            "assignee": None,
            "assigned_at": None,
            "declined_by": declined,
            "next_check_at": now,
            "reason": f"declined by {agent.name}: {reason}"[:300],
            "version": F("version") + 1,
        }
        if row.last_agent_id == agent.pk:
            changes["last_agent"] = None
            if row.step_kind == engine.LAST_AGENT:
                policy = policy_by_id(row.policy_id, conv.inbox_id)
                steps = policy.steps or engine.DEFAULT_POLICY.steps
                home = next((i for i, step in enumerate(steps) if step.kind == engine.HOME_TEAM), 0)
                changes.update(step_index=home, step_kind=steps[home].kind, step_entered_at=now)
        WorkItem.objects.filter(pk=row.pk).update(**changes)
        QueueEntry.objects.filter(work_item=row).delete()
        conv.assignee = None
        conv.waiting_since = row.enqueued_at
        conv.updated_at = now
        conv.save(update_fields=["assignee", "waiting_since", "updated_at"])
        record(
            conv,
            TimelineKind.UNASSIGNED,
            actor=actor,
            agent_id=agent.pk,
            reason=reason,
            declined=True,
        )
        fresh = Conversation.objects.select_related("team", "customer").get(pk=conv.pk)
        staff = set(conversation_recipients(fresh).staff) | {user_group(agent.pk)}
        send_event_on_commit(
            Event(EventType.ASSIGNMENT_CHANGED, staff=present_conversation(fresh)),
            Recipients(staff=frozenset(staff)),
        )
    if route:
        route_declined(conv.pk, now=now)
    conversation.refresh_from_db()
    return conversation


def route_declined(conversation_id: int, *, now: datetime | None = None) -> int | None:
    """One routing decision for a declined conversation (its decliners are not eligible).
    Returns the new assignee's id, or None when it waits (placed in its policy)."""
    now = now or timezone.now()
    with transaction.atomic():
        conv = Conversation.objects.select_related("customer", "team").get(pk=conversation_id)
        if conv.assignee_id or conv.status != Status.OPEN:
            return conv.assignee_id
        row = WorkItem.objects.filter(conversation=conv, state=WorkState.QUEUED).first()
        if row is None:
            return None
        return _route(row, conv, now)
