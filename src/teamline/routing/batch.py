"""Batch routing: many due work items decided in one pass, for surges and the periodic tick.

`route_conversation(..., defer=True)` (the worker's inbound pipeline) only stores the queued
work item, due now; `route_pending` then decides every due item a batch at a time:

  1. **Lease** (own short transaction): up to `limit` due queued conversation items, oldest
     check first, are taken with `SKIP LOCKED` (PostgreSQL; SQLite serialises writers) and
     their `next_check_at` is moved `LEASE_SECONDS` ahead, so concurrent routers take disjoint
     batches and an item whose router dies is due again when the lease ends — nothing is lost.
  2. **One context** for the whole batch: policies and calendars from the per-process cache,
     surge state and team rosters (one query each), the items' last agents, and every agent
     with room for some item of the batch (`queries.free_agents`, two queries).
  3. **Decide in memory**, in queue order (aging rank): each item is placed by the engine and
     offered to the eligible agents of its pool exactly as `engine.decide` would choose among
     them; the chosen agent's load grows in memory (`engine.with_load`) before the next item.
  4. **Apply in one transaction**, lock order as everywhere in routing (agent profiles →
     conversations → customers → work items): the chosen agents' profiles are locked and their
     open load recounted under the lock, the conversations still open and unassigned are
     locked, then every accepted claim and every placement is written with multi-row
     statements. A claim that no longer holds (the agent went away or filled up meanwhile, or
     somebody else took the conversation) leaves its item queued and due at once.

The cost is a fixed number of queries per batch (13 to 16 measured; the per-row UPDATEs go in
one pipelined `executemany`), so the queries per decision fall with the batch size and do not
grow with the queue. Inline routing (`route_conversation` without defer) keeps its single-item
path in routing/actions.py; both use the same engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.db.models import Count
from django.utils import timezone

from teamline.accounts.models import AgentProfile, Presence, User
from teamline.conversations.events import emit_conversations
from teamline.conversations.locks import lock_agents, lock_waiting_conversations
from teamline.conversations.models import Conversation, Status, TimelineEvent, TimelineKind
from teamline.core.bulk import update_rows
from teamline.core.events import EventType
from teamline.customers.models import Customer

from . import engine, eta
from .actions import close_work_item
from .models import (
    LIVE_CALLBACK_STATES,
    Callback,
    CallbackState,
    QueueEntry,
    WorkItem,
    WorkKind,
    WorkState,
)
from .placement import Planned, place_items
from .queries import (
    cached_calendars,
    context_teams,
    free_agents,
    item_snapshot,
    load_agents,
    policy_by_id,
    surging_team_ids,
    team_ids_all,
    team_rosters,
)

logger = logging.getLogger(__name__)

# Items decided per batch, and how long a leased batch stays out of other routers' reach.
ROUTE_BATCH = 200
LEASE_SECONDS = 30
# After a batch that was not full, the router waits this long before the next one, so that a
# stream of arrivals is decided in batches of several items (a batch of one costs nearly as
# much as a batch of fifty) at the price of at most this much more wait.
LINGER_SECONDS = 0.05


@dataclass
class RouteBatch:
    """What one `route_pending` call did."""

    decided: list[int] = field(default_factory=list)  # work item ids
    assigned: int = 0
    placed: int = 0
    closed: int = 0


def route_pending(*, now: datetime | None = None, limit: int = ROUTE_BATCH) -> RouteBatch:
    """Decide one batch of due queued conversation items (at most `limit`): assign those an
    agent may take now, place the rest in their policy. Safe in any number of processes."""
    now = now or timezone.now()
    ids = _lease(now, limit)
    if not ids:
        return RouteBatch()
    try:
        return route_items(ids, now)
    except OperationalError:
        # A deadlock report or a busy database: the whole batch rolled back; its items are due
        # again at once (the tick would find them when the lease ends anyway).
        logger.warning("batch of %d routing decisions rolled back; due again", len(ids))
        WorkItem.objects.filter(pk__in=ids, state=WorkState.QUEUED).update(next_check_at=now)
        return RouteBatch()


def _lease(now: datetime, limit: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            WorkItem.objects.select_for_update(skip_locked=True)
            .filter(state=WorkState.QUEUED, next_check_at__lte=now, conversation__isnull=False)
            .order_by("next_check_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WorkItem.objects.filter(pk__in=ids).update(
                next_check_at=now + timedelta(seconds=LEASE_SECONDS)
            )
    return ids


def route_items(ids: Iterable[int], now: datetime) -> RouteBatch:
    """Decide the given queued items together (they should be leased by the caller)."""
    result = RouteBatch()
    rows = list(
        WorkItem.objects.filter(pk__in=list(ids), state=WorkState.QUEUED)
        .select_related("conversation__customer", "conversation__team")
        .order_by("rank_at", "pk")
    )
    live: list[tuple[WorkItem, Conversation]] = []
    for row in rows:
        conversation = row.conversation
        if conversation is None:
            continue
        if conversation.assignee_id or conversation.status != Status.OPEN:
            with transaction.atomic():
                close_work_item(conversation, now=now)
            result.closed += 1
            result.decided.append(row.pk)
            continue
        live.append((row, conversation))
    if not live:
        return result
    planned, ctx = _decide(live, now)
    with transaction.atomic():
        claimed = _claim(planned, now)
        placed = place_items([plan for plan in planned if plan.row.pk not in claimed], ctx, now)
    result.assigned = len(claimed)
    result.placed = placed
    result.decided += [plan.row.pk for plan in planned]
    return result


# --- Deciding -------------------------------------------------------------------------------


def _decide(
    live: list[tuple[WorkItem, Conversation]], now: datetime
) -> tuple[list[Planned], engine.Context]:
    known = [
        (row, conversation, item_snapshot(row), policy_by_id(row.policy_id, conversation.inbox_id))
        for row, conversation in live
    ]
    ctx = _context([(item, policy) for _row, _conversation, item, policy in known], now)
    plans = [
        Planned(row, conversation, item, policy, engine.place(item, policy, ctx))
        for row, conversation, item, policy in known
    ]
    # Everybody with room for some item of the batch, in one load.
    every = any(plan.placement.scope == engine.SCOPE_ALL for plan in plans)
    pool_teams = {team for plan in plans for team in plan.placement.team_ids}
    last_agents = {plan.item.last_agent_id for plan in plans if plan.item.last_agent_id}
    agents = free_agents(
        {plan.item.channel_kind for plan in plans},
        team_ids=None if every else pool_teams,
        extra_ids=last_agents,
        now=now,
    )
    by_team: dict[int, set[int]] = {}
    for agent in agents.values():
        for team in agent.team_ids:
            by_team.setdefault(team, set()).add(agent.id)
    for plan in plans:
        item, placement = plan.item, plan.placement
        if placement.scope == engine.SCOPE_AGENT:
            pool: Iterable[int] = (placement.agent_id,) if placement.agent_id else ()
        elif placement.scope == engine.SCOPE_TEAMS:
            pool = {agent for team in placement.team_ids for agent in by_team.get(team, ())}
        else:
            pool = agents.keys()
        room = {
            agent_id: agents[agent_id]
            for agent_id in pool
            if agent_id in agents and agents[agent_id].free(item.channel_kind) > 0
        }
        view = engine.Context(
            now=now,
            calendars=ctx.calendars,
            agents=room,
            surging=ctx.surging,
            rosters=ctx.rosters,
            _modes=ctx._modes,
        )
        eligible = engine.eligible_agents(item, placement, view)
        if eligible:
            chosen = eligible[0]
            plan.agent_id = chosen.id
            plan.reason = engine.assignment_reason(chosen, item, placement, view)
            agents[chosen.id] = engine.with_load(chosen, item.channel_kind, 1, now)
    return plans, ctx


def _context(items: list[tuple[engine.Item, engine.Policy]], now: datetime) -> engine.Context:
    """The batch's shared context: calendars of every team the items' policies reach, surge
    state and rosters of those teams, and the items' last agents (for the sticky step)."""
    every = False
    team_ids: set[int] = set()
    for item, policy in items:
        reaches_all, reached = context_teams(item, policy)
        every = every or reaches_all
        team_ids |= reached or set()
    calendars = cached_calendars(team_ids_all() if every else team_ids, now=now)
    fallbacks = {c.fallback_team_id for c in calendars.values() if c.fallback_team_id}
    if missing := fallbacks - set(calendars):
        calendars.update(cached_calendars(missing, now=now))
    loaded = None if every else set(calendars)
    last_ids = sorted({item.last_agent_id for item, _policy in items if item.last_agent_id})
    return engine.Context(
        now=now,
        calendars=calendars,
        agents=load_agents(team_ids=None, user_ids=last_ids) if last_ids else {},
        surging=surging_team_ids(loaded),
        rosters=team_rosters(loaded),
    )


# --- Applying -------------------------------------------------------------------------------


def _claim(plans: list[Planned], now: datetime) -> set[int]:
    """Write every chosen assignment that still holds under the locks; returns the ids of the
    work items assigned. Those that do not hold are marked for an immediate retry."""
    wanted = [plan for plan in plans if plan.agent_id is not None]
    if not wanted:
        return set()
    agent_ids = sorted({plan.agent_id for plan in wanted if plan.agent_id is not None})
    profiles = lock_agents(agent_ids)
    load: dict[tuple[int, str], int] = {}
    for assignee_id, kind, count in (
        Conversation.objects.filter(assignee_id__in=agent_ids, status=Status.OPEN)
        .values("assignee_id", "channel_kind")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "channel_kind", "n")
    ):
        load[(assignee_id, kind)] = count
    holding: list[Planned] = []
    for plan in wanted:
        agent_id, kind = plan.agent_id, plan.item.channel_kind
        assert agent_id is not None
        profile = profiles.get(agent_id)
        if profile is None or not _has_room(profile, kind, load.get((agent_id, kind), 0), now):
            plan.retry_now = True
            continue
        load[(agent_id, kind)] = load.get((agent_id, kind), 0) + 1
        holding.append(plan)
    claimable = lock_waiting_conversations(plan.conversation.pk for plan in holding)
    taken = [plan for plan in holding if plan.conversation.pk in claimable]
    for plan in holding:
        if plan.conversation.pk not in claimable:
            plan.retry_now = True  # the tick closes its item if the conversation moved on
    if not taken:
        return set()

    users = User.objects.in_bulk(sorted({plan.agent_id for plan in taken if plan.agent_id}))
    conversations, customers, rows, timeline = [], [], [], []
    for plan in taken:
        conversation, row = plan.conversation, plan.row
        assert plan.agent_id is not None
        conversation.assignee = users[plan.agent_id]
        conversation.waiting_since = None
        conversation.updated_at = now
        conversations.append(conversation)
        customer = conversation.customer
        customer.last_agent_id = plan.agent_id
        customers.append(customer)
        row.state = WorkState.ASSIGNED
        row.assignee_id = plan.agent_id
        row.assigned_at = now
        row.next_check_at = None
        row.version += 1
        rows.append(row)
        placement = plan.placement
        timeline.append(
            TimelineEvent(
                conversation=conversation,
                kind=TimelineKind.ASSIGNED,
                data={
                    "agent_id": plan.agent_id,
                    "reason": plan.reason,
                    "step": f"{placement.step_index + 1} of {placement.step_count}",
                    "route": placement.reason,
                },
            )
        )
    update_rows(Conversation, conversations, ["assignee", "waiting_since", "updated_at"])
    AgentProfile.objects.filter(user_id__in=sorted({row.assignee_id for row in rows})).update(
        last_assigned_at=now
    )
    update_rows(Customer, customers, ["last_agent"])
    update_rows(
        WorkItem,
        rows,
        ["state", "assignee", "assigned_at", "next_check_at", "version"],
        only_if={"state": WorkState.QUEUED},
    )
    item_ids = [row.pk for row in rows]
    QueueEntry.objects.filter(work_item_id__in=item_ids).delete()
    for row in rows:
        if row.kind == WorkKind.CALLBACK:
            Callback.objects.filter(work_item_id=row.pk, state__in=LIVE_CALLBACK_STATES).update(
                state=CallbackState.ASSIGNED, agent_id=row.assignee_id
            )
    TimelineEvent.objects.bulk_create(timeline)
    emit_conversations([plan.conversation for plan in taken], EventType.ASSIGNMENT_CHANGED)
    for row in rows:
        eta.queue_left(row.pk, row.customer_id)
    eta.after_assignment({plan.conversation.team_id for plan in taken}, now)
    return set(item_ids)


def _has_room(profile: AgentProfile, kind: str, load: int, now: datetime) -> bool:
    if not profile.user.is_active or profile.presence != Presence.AVAILABLE:
        return False
    if profile.wrap_up_until is not None and profile.wrap_up_until > now:
        return False
    return load < profile.capacity_for(kind)
