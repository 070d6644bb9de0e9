"""The periodic tick: routing's safety net and clock.

Every TEAMLINE["ROUTING_SWEEP_SECONDS"] the worker runs `sweep_queues` (tasks.sweep_queues,
registered with core/periodic.py). It repairs open unassigned conversations without a queued
item, gives back the real-time work of agents who went offline, starts and ends surges
(routing/surge.py), decides again the items whose check is due (routing/batch.py) and offers
waiting work to free agents. Whatever process died mid-decision, the next tick finishes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from teamline.accounts.models import ChannelKind, Presence, User
from teamline.conversations.events import emit_conversation, record
from teamline.conversations.locks import lock_agent
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.core.events import EventType

from . import engine
from .actions import close_work_item, offer_waiting_work, route_conversation
from .batch import route_pending
from .models import QueueEntry, WorkState
from .queries import free_agents, policy_for_inbox
from .surge import check_surges

TICK_BATCH = 200  # due items re-evaluated per batch of the tick
TICK_ROUNDS = 10  # batches per tick at most (the next tick continues)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def sweep_queues(*, now: datetime | None = None) -> int:
    """The periodic tick (also the safety net for any process that died mid-decision):
    repair open unassigned conversations without a queued item, give back the real-time work
    of agents who went offline, start and end surges, re-evaluate queued items whose check is
    due (timeouts, overflow, openings, aging), and offer waiting work to free agents.
    Returns the number of assignments made."""
    now = _now(now)
    assigned = ensure_work_items(now=now)
    give_back_offline_work(now=now)
    check_surges(now=now)
    assigned += reevaluate_due(now=now)
    assigned += offer_to_free_agents(now=now)
    return assigned


def ensure_work_items(*, now: datetime | None = None, limit: int = TICK_BATCH) -> int:
    """Open unassigned conversations without a queued item (data from before the engine, or a
    path that did not route) get one and are routed. Returns assignments made."""
    now = _now(now)
    assigned = 0
    orphans = (
        Conversation.objects.filter(status=Status.OPEN, assignee__isnull=True)
        .exclude(work_items__state=WorkState.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for conversation_id in list(orphans):
        conv = Conversation.objects.get(pk=conversation_id)
        if conv.waiting_since is None:
            Conversation.objects.filter(pk=conv.pk, waiting_since__isnull=True).update(
                waiting_since=now
            )
        with transaction.atomic():
            if route_conversation(conv, now=now):
                assigned += 1
    return assigned


def reevaluate_due(*, now: datetime | None = None, limit: int = TICK_BATCH) -> int:
    """Decide again for queued items whose next check has come (timeouts, overflow, openings,
    aging, and deferred arrivals), in batches (routing/batch.py). Returns assignments made."""
    now = _now(now)
    assigned = 0
    for _round in range(TICK_ROUNDS):
        batch = route_pending(now=now, limit=limit)
        assigned += batch.assigned
        if len(batch.decided) < limit:
            break
    return assigned


def offer_to_free_agents(*, now: datetime | None = None) -> int:
    """Offer waiting work to every available agent out of wrap-up with room for some channel
    kind (covers capacity freed by any path, wrap-ups that ended and teams that just opened),
    longest idle first. Agents who are full cost nothing here (one query finds who has room).
    Returns assignments made."""
    now = _now(now)
    if not QueueEntry.objects.exists():
        return 0
    free = free_agents(ChannelKind.values, team_ids=None, now=now)
    order = sorted(
        free.values(),
        key=lambda agent: (
            agent.last_assigned_at is not None,
            agent.last_assigned_at or now,
            agent.id,
        ),
    )
    users = User.objects.in_bulk([agent.id for agent in order])
    return sum(offer_waiting_work(users[agent.id], now=now) for agent in order if agent.id in users)


def give_back_offline_work(*, now: datetime | None = None, limit: int = TICK_BATCH) -> int:
    """Agents offline for longer than their policy's grace give back their open real-time work
    (the policy's give_back_kinds, chat and voice by default; email threads stay theirs). Each
    conversation is unassigned and routed again. Returns how many were given back."""
    now = _now(now)
    candidates = list(
        Conversation.objects.filter(
            status=Status.OPEN,
            assignee__isnull=False,
            assignee__agent__presence=Presence.OFFLINE,
            channel_kind__in=["chat", "voice"],
        )
        .select_related("assignee__agent")
        .order_by("pk")[:limit]
    )
    given = 0
    policies: dict[int | None, engine.Policy] = {}
    for conv in candidates:
        if conv.inbox_id not in policies:
            policies[conv.inbox_id] = policy_for_inbox(conv.inbox_id)[0]
        policy = policies[conv.inbox_id]
        agent_id = conv.assignee_id
        if agent_id is None or conv.assignee is None:
            continue
        since = conv.assignee.agent.presence_changed_at
        if conv.channel_kind not in policy.give_back_kinds:
            continue
        if since > now - timedelta(seconds=policy.offline_grace_seconds):
            continue
        with transaction.atomic():
            profile = lock_agent(agent_id, presence=Presence.OFFLINE)
            if profile is None:
                continue  # back online meanwhile
            released = Conversation.objects.filter(
                pk=conv.pk, assignee_id=agent_id, status=Status.OPEN
            ).update(assignee=None, waiting_since=now, updated_at=now)
            if not released:
                continue
            close_work_item(conv, now=now)
            conv.refresh_from_db()
            record(
                conv,
                TimelineKind.UNASSIGNED,
                agent_id=agent_id,
                reason="agent went offline; real-time work goes back to the queue",
            )
            emit_conversation(conv, EventType.ASSIGNMENT_CHANGED)
            route_conversation(conv, now=now)
            given += 1
    return given
