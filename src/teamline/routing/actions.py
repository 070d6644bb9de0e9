"""Routing's writes: work items, placements, claims, offers, the periodic tick, surges.

This module is the seam other apps call: `route_conversation`, `offer_waiting_work`,
`agent_freed`, `close_work_item`, `sweep_queues` and `do_assign_conversation`. Decisions come
from the pure engine (routing/engine.py); this module loads the data it needs with a bounded
number of queries (routing/queries.py) and applies the answer race-free. Channel arrivals
(`route_conversation(..., defer=True)`) and the tick's due items are decided many at a time by
the batch router (routing/batch.py) with the same engine and the same lock order.

Truth and recovery: the WorkItem rows are the truth. An open unassigned conversation always
has a queued item (created in the same transaction as the change that made it wait); whatever
process dies mid-decision, the periodic tick (`sweep_queues`) re-evaluates queued items whose
`next_check_at` has come (step timeouts, overflow, aging, openings), repairs conversations
without an item, gives back the work of agents who went offline, and offers work to free agents.

Race-freedom (SQLite and PostgreSQL). Lock order, everywhere: agent profile → conversation →
customer → work item (→ its queue entries).
  - A claim locks the agent's profile (select_for_update; on SQLite the IMMEDIATE transaction
    holds the write lock), counts the agent's open work of that channel kind under the lock,
    claims the conversation with a conditional UPDATE (`assignee IS NULL AND status = open`),
    updates the customer's last agent, then marks the work item assigned. Two routers can
    neither give one conversation to two agents nor one agent more than their capacity.
  - A placement (step change, overflow, promise) writes the conversation's timeline/message
    first, then the item with a conditional UPDATE on its version; a loser rolls back.
  - Callers that already hold a conversation lock (a customer message reopening a thread) may
    meet a claim holding the agent lock: PostgreSQL then reports a deadlock to one side; the
    claim runs in a savepoint, so the loser only leaves the item queued for the tick.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from teamline.accounts.models import AgentProfile, ChannelKind, Presence, User
from teamline.conversations.events import emit_conversation, record
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.core.errors import InvalidInput
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    send_event_on_commit,
    team_group,
)
from teamline.customers.models import Customer
from teamline.teams.hours import calendars_for, format_local
from teamline.teams.models import ServiceMode, Team

from . import engine, eta
from .models import (
    LIVE_CALLBACK_STATES,
    LIVE_STATES,
    Callback,
    CallbackState,
    CustomerRoutingPreference,
    QueueEntry,
    SurgeEpisode,
    WorkItem,
    WorkKind,
    WorkState,
)
from .queries import (
    free_agents,
    item_snapshot,
    load_agents,
    load_context,
    load_routing_context,
    policy_by_id,
    policy_for_inbox,
    service_level_targets,
    team_queue_stats,
    trusted_prefix,
)

logger = logging.getLogger(__name__)

ASSIGNED = "assigned"
UNAVAILABLE = "unavailable"
FULL = "full"
TAKEN = "taken"

# Bounds that keep every decision's cost independent of the queue length.
MAX_CLAIM_TRIES = 5  # eligible agents tried per item-driven decision
OFFER_SCAN = 50  # queue entries looked at per round of an agent-driven offer
OFFER_ROUNDS = 20
TICK_BATCH = 200  # due items re-evaluated per batch of the tick
TICK_ROUNDS = 10  # batches per tick at most (the next tick continues)
# A surge ends when the queue falls below this share of its thresholds (no flapping).
SURGE_HYSTERESIS = 0.8


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


# --- Work items -----------------------------------------------------------------------------


def enqueue_conversation(
    conversation: Conversation,
    *,
    now: datetime | None = None,
    required_skills: dict[str, int] | None = None,
) -> WorkItem:
    """The conversation's live work item, created queued if it has none (idempotent, also for
    simultaneous callers: the unique constraint on live items decides)."""
    now = _now(now)
    existing = WorkItem.objects.filter(conversation=conversation, state__in=LIVE_STATES).first()
    if existing is not None:
        return existing
    row = _new_work_item(conversation, now, required_skills)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return WorkItem.objects.get(conversation=conversation, state__in=LIVE_STATES)
    return row


def _new_work_item(
    conversation: Conversation, now: datetime, required_skills: dict[str, int] | None
) -> WorkItem:
    """A queued work item for the conversation, due now (not saved)."""
    customer = conversation.customer
    try:  # loaded with the conversation by route_conversation (select_related)
        preference: CustomerRoutingPreference | None = customer.routing_preference
    except CustomerRoutingPreference.DoesNotExist:
        preference = None
    _policy, policy_id = policy_for_inbox(conversation.inbox_id)
    vip = bool((customer.attributes or {}).get("vip"))
    return WorkItem(
        kind=WorkKind.CONVERSATION,
        conversation=conversation,
        customer=customer,
        policy_id=policy_id,
        channel_kind=conversation.channel_kind,
        priority=conversation.priority,
        vip=vip,
        required_skills=required_skills or {},
        language=customer.preferred_language or "",
        home_team_id=conversation.team_id,
        last_agent_id=customer.last_agent_id,
        bots_allowed=not (preference and preference.opt_out_of_bots),
        opt_out_of_team=bool(preference and preference.opt_out_of_team),
        step_index=0,
        step_entered_at=now,
        enqueued_at=now,
        rank_at=engine.rank_at(
            now, conversation.channel_kind, conversation.priority, vip, service_level_targets()
        ),
        next_check_at=now,
    )


def close_work_item(
    conversation: Conversation, *, now: datetime | None = None, state: str = WorkState.DONE
) -> int:
    """The conversation no longer needs routing (resolved, snoozed, pending, or its customer
    left): its live item is done (or abandoned). Call inside the conversation's transaction."""
    now = _now(now)
    ids = list(
        WorkItem.objects.filter(conversation=conversation, state__in=LIVE_STATES).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return 0
    QueueEntry.objects.filter(work_item_id__in=ids).delete()
    closed = WorkItem.objects.filter(pk__in=ids, state__in=LIVE_STATES).update(
        state=state, closed_at=now, next_check_at=None, version=F("version") + 1
    )
    if closed and WorkItem.objects.filter(pk__in=ids).exclude(kind=WorkKind.CONVERSATION).exists():
        from .scheduling import work_closed

        work_closed(conversation, ids, now=now, abandoned=state == WorkState.ABANDONED)
    return closed


# --- Claims ---------------------------------------------------------------------------------


def claim(
    conversation_id: int,
    agent_id: int,
    *,
    reason: str,
    now: datetime | None = None,
    **data: Any,
) -> str:
    """Claim one waiting conversation for one agent if they are available (not in wrap-up)
    with free capacity. Returns ASSIGNED, or why not: UNAVAILABLE, FULL (for that channel
    kind) or TAKEN.

    Locks: agent profile, then conversation (conditional UPDATE), customer, work item.
    Emits assignment.changed; records `assigned` with the reason.
    """
    now = _now(now)
    with transaction.atomic():
        profile = (
            AgentProfile.objects.select_for_update()
            .filter(user_id=agent_id, presence=Presence.AVAILABLE, user__is_active=True)
            .first()
        )
        if profile is None or (profile.wrap_up_until and profile.wrap_up_until > now):
            return UNAVAILABLE
        conversation = (
            Conversation.objects.select_related("customer", "team")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            return TAKEN
        active = Conversation.objects.filter(
            assignee_id=agent_id, status=Status.OPEN, channel_kind=conversation.channel_kind
        ).count()
        if active >= profile.capacity_for(conversation.channel_kind):
            return FULL
        claimed = Conversation.objects.filter(
            pk=conversation_id, assignee__isnull=True, status=Status.OPEN
        ).update(assignee_id=agent_id, waiting_since=None, updated_at=now)
        if not claimed:
            return TAKEN
        AgentProfile.objects.filter(pk=profile.pk).update(last_assigned_at=now)
        Customer.objects.filter(pk=conversation.customer_id).update(last_agent_id=agent_id)
        taken = _mark_assigned(conversation_id, agent_id, now)
        _queue_moved(conversation, taken, now)
        conversation.refresh_from_db()
        record(conversation, TimelineKind.ASSIGNED, agent_id=agent_id, reason=reason, **data)
        emit_conversation(conversation, EventType.ASSIGNMENT_CHANGED)
    return ASSIGNED


def _mark_assigned(conversation_id: int, agent_id: int, now: datetime) -> list[int]:
    """Mark the conversation's live item assigned (and its callback, if it is one); returns
    the ids of the items that were still queued."""
    rows = list(
        WorkItem.objects.filter(conversation_id=conversation_id, state__in=LIVE_STATES).values_list(
            "pk", "kind", "state"
        )
    )
    ids = [pk for pk, _kind, _state in rows]
    if ids:
        WorkItem.objects.filter(pk__in=ids).update(
            state=WorkState.ASSIGNED,
            assignee_id=agent_id,
            assigned_at=now,
            next_check_at=None,
            version=F("version") + 1,
        )
        QueueEntry.objects.filter(work_item_id__in=ids).delete()
    if any(kind == WorkKind.CALLBACK for _pk, kind, _state in rows):
        Callback.objects.filter(work_item_id__in=ids, state__in=LIVE_CALLBACK_STATES).update(
            state=CallbackState.ASSIGNED, agent_id=agent_id
        )
    return [pk for pk, _kind, state in rows if state == WorkState.QUEUED]


def _queue_moved(conversation: Conversation, taken: list[int], now: datetime) -> None:
    """An item left the queue: its customer hears so, and (after commit, throttled) the
    customers behind it get their new positions. No queries here."""
    for item_id in taken:
        eta.queue_left(item_id, conversation.customer_id)
    if taken:
        eta.after_assignment([conversation.team_id], now)


def _safe_claim(
    conversation_id: int, agent_id: int, *, reason: str, now: datetime, **data: Any
) -> str:
    try:
        return claim(conversation_id, agent_id, reason=reason, now=now, **data)
    except OperationalError:
        # A deadlock report (the caller held a conversation lock) or a busy database: the item
        # stays queued and the tick decides again.
        logger.warning(
            "claim of conversation %s by %s failed; left queued", conversation_id, agent_id
        )
        return UNAVAILABLE


# --- Item-driven decisions ------------------------------------------------------------------


def route_conversation(
    conversation: Conversation,
    *,
    now: datetime | None = None,
    required_skills: dict[str, int] | None = None,
    defer: bool = False,
) -> int | None:
    """Find an agent for a new or reopened conversation; queue it if nobody may take it now.

    Creates the conversation's queued work item in the caller's transaction. Returns the
    assignee's id, or None when the conversation waits (its timeline says where and why).

    `defer=True` (bulk producers: the worker's inbound pipeline) only creates the item, due
    now, and asks (in the same transaction) for one `route_pending` task: the batch router
    decides it with the other arrivals of the moment (routing/batch.py). Returns None then.
    """
    now = _now(now)
    conv = Conversation.objects.select_related("customer__routing_preference", "team").get(
        pk=conversation.pk
    )
    if conv.assignee_id or conv.status != Status.OPEN:
        return conv.assignee_id
    if defer:
        from .tasks import request_batch_routing

        # One statement: a live item that exists already (a concurrent arrival) wins.
        WorkItem.objects.bulk_create(
            [_new_work_item(conv, now, required_skills)], ignore_conflicts=True
        )
        request_batch_routing()
        return None
    row = enqueue_conversation(conv, now=now, required_skills=required_skills)
    if row.state != WorkState.QUEUED:
        return row.assignee_id
    return _route(row, conv, now)


def _route(row: WorkItem, conv: Conversation, now: datetime) -> int | None:
    """One decision for one queued item: assign it, or (re)place it in its policy."""
    policy = policy_by_id(row.policy_id, conv.inbox_id)
    item = item_snapshot(row)
    # Bounded loading (the best CANDIDATE_LIMIT candidates); full loading only in the rare case
    # the cut leaves fewer trusted candidates than claims to try.
    ctx, cut = load_routing_context(item, policy, now)
    decision = engine.decide(item, policy, ctx)
    if cut is not None and len(trusted_prefix(decision.eligible, cut)) < MAX_CLAIM_TRIES:
        ctx = load_context(item, policy, now)
        decision = engine.decide(item, policy, ctx)
    placement = decision.placement
    step = f"{placement.step_index + 1} of {placement.step_count}"
    for agent_id in decision.eligible[:MAX_CLAIM_TRIES]:
        reason = engine.assignment_reason(ctx.agents[agent_id], item, placement, ctx)
        outcome = _safe_claim(
            conv.pk, agent_id, reason=reason, now=now, step=step, route=placement.reason
        )
        if outcome == ASSIGNED:
            return agent_id
        if outcome == TAKEN:
            return (
                Conversation.objects.filter(pk=conv.pk)
                .values_list("assignee_id", flat=True)
                .first()
            )
    _apply_placement(row, conv, item, placement, policy, ctx, now)
    return None


def _entries_for(row: WorkItem, placement: engine.Placement) -> list[QueueEntry]:
    common = {
        "work_item": row,
        "channel_kind": row.channel_kind,
        "language": placement.language,
        "rank_at": row.rank_at,
    }
    if placement.scope == engine.SCOPE_AGENT:
        return [QueueEntry(agent_id=placement.agent_id, **common)]
    if placement.scope == engine.SCOPE_ALL:
        return [QueueEntry(excluded_team_id=placement.excluded_team_id, **common)]
    return [QueueEntry(team_id=team_id, **common) for team_id in sorted(placement.team_ids)]


def _promise_text(item: engine.Item, placement: engine.Placement, ctx: engine.Context) -> str:
    home = item.home_team_id
    calendar = ctx.calendars.get(home) if home else None
    team = f"Team {calendar.name}" if calendar else "Our team"
    limited = home is not None and ctx.mode(home) == ServiceMode.LIMITED
    now_text = (
        f"{team} is handling urgent matters only right now"
        if limited
        else f"{team} is closed right now"
    )
    if placement.promise_at is not None and calendar is not None:
        when = format_local(calendar, placement.promise_at, ctx.now)
        return f"{now_text}. A person will answer your message from {when}."
    return f"{now_text}. A person will answer your message as soon as we are back."


def _apply_placement(
    row: WorkItem,
    conv: Conversation,
    item: engine.Item,
    placement: engine.Placement,
    policy: engine.Policy,
    ctx: engine.Context,
    now: datetime,
) -> bool:
    """Store where one item waits (routing/batch.py `place_items`, the same code the batch
    router uses): False when a concurrent change to the item won."""
    from .batch import Planned, place_items

    with transaction.atomic():
        return place_items([Planned(row, conv, item, policy, placement)], ctx, now) == 1


# --- Agent-driven decisions -----------------------------------------------------------------


def _entry_placement(entry: QueueEntry, row: WorkItem) -> engine.Placement:
    """The part of the item's placement one queue entry stands for."""
    if entry.agent_id is not None:
        scope, teams = engine.SCOPE_AGENT, frozenset[int]()
    elif entry.team_id is not None:
        scope, teams = engine.SCOPE_TEAMS, frozenset({entry.team_id})
    else:
        scope, teams = engine.SCOPE_ALL, frozenset[int]()
    return engine.Placement(
        step_index=row.step_index,
        step_count=0,
        step=engine.Step(row.step_kind or engine.HOME_TEAM),
        entered_at=row.step_entered_at,
        scope=scope,
        agent_id=entry.agent_id,
        team_ids=teams,
        next_check_at=row.next_check_at,
        language=entry.language,
        skills=dict(row.needed_skills or {}),
        reason=row.reason,
        excluded_team_id=entry.excluded_team_id,
    )


def offer_waiting_work(agent: User, *, now: datetime | None = None) -> int:
    """Give an agent who became available or freed capacity the most urgent waiting work
    they may take (effective priority: the queue's aging order), until they are full.
    Each round reads a bounded window of the queue index. Returns how many they received."""
    now = _now(now)
    agents = load_agents(team_ids=None, user_ids=[agent.pk])
    state = agents.get(agent.pk)
    if state is None or not state.available_at(now):
        return 0
    ctx = engine.Context(now=now, calendars=calendars_for(state.team_ids, now=now), agents=agents)
    languages = sorted({engine.primary_language(code) for code in state.languages})
    pools = Q(agent_id=agent.pk) | Q(team__isnull=True, agent__isnull=True)
    if state.team_ids:
        pools |= Q(team_id__in=sorted(state.team_ids))
    received = 0
    tried: set[int] = set()
    for _round in range(OFFER_ROUNDS):
        free_kinds = sorted(kind for kind in state.capacity if state.free(kind) > 0)
        if not free_kinds:
            break
        entries = list(
            QueueEntry.objects.filter(pools, channel_kind__in=free_kinds)
            .filter(Q(language="") | Q(language__in=languages))
            .exclude(work_item_id__in=sorted(tried))
            .select_related("work_item")
            .order_by("rank_at", "work_item_id")[:OFFER_SCAN]
        )
        if not entries:
            break
        took = False
        for entry in entries:
            row = entry.work_item
            if row.pk in tried or row.conversation_id is None or row.state != WorkState.QUEUED:
                continue
            tried.add(row.pk)
            if state.free(row.channel_kind) <= 0:
                continue
            item = item_snapshot(row)
            placement = _entry_placement(entry, row)
            if not engine.agent_can_take(state, item, placement, ctx):
                continue
            reason = (
                "last agent"
                if placement.scope == engine.SCOPE_AGENT
                else f"waiting in the queue of {engine.waiting_for(item, placement, ctx)}"
            )
            outcome = _safe_claim(row.conversation_id, agent.pk, reason=reason, now=now)
            if outcome == ASSIGNED:
                received += 1
                state = engine.with_load(state, row.channel_kind, 1, now)
                took = True
                break
            if outcome == FULL:
                load = dict(state.load)
                load[row.channel_kind] = int(state.capacity.get(row.channel_kind, 0))
                state = replace(state, load=load)
            elif outcome == UNAVAILABLE:
                return received
        if not took and len(entries) < OFFER_SCAN:
            break
    return received


def agent_freed(agent: User, *, channel_kind: str, now: datetime | None = None) -> int:
    """An agent finished a contact: after voice they wrap up first (`wrap_up_seconds`, during
    which routing offers them nothing; the tick offers work when it ends), otherwise they are
    offered waiting work at once. Locks the agent profile only."""
    now = _now(now)
    if channel_kind == "voice":
        seconds = (
            AgentProfile.objects.filter(user=agent)
            .values_list("wrap_up_seconds", flat=True)
            .first()
        )
        if seconds:
            AgentProfile.objects.filter(user=agent).update(
                wrap_up_until=now + timedelta(seconds=seconds)
            )
            return 0
    return offer_waiting_work(agent, now=now)


# --- Explicit assignment --------------------------------------------------------------------


def do_assign_conversation(
    conversation: Conversation, agent: User, *, actor: User | None, reason: str
) -> Conversation:
    """Explicit assignment (a supervisor's reassign, seeding, later transfers): not bound by
    presence or capacity, but the agent must be a member of the conversation's team.

    Locks agent profile, then conversation; marks the work item assigned.
    Emits assignment.changed; records `assigned`.
    """
    if not agent.teams.filter(pk=conversation.team_id).exists():
        raise InvalidInput(f"{agent.name} is not a member of {conversation.team.name}.")
    with transaction.atomic():
        AgentProfile.objects.select_for_update().filter(user=agent).first()
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = conv.assignee_id
        now = timezone.now()
        conv.assignee = agent
        conv.waiting_since = None
        conv.updated_at = now
        conv.save(update_fields=["assignee", "waiting_since", "updated_at"])
        Customer.objects.filter(pk=conv.customer_id).update(last_agent=agent)
        _mark_assigned(conv.pk, agent.pk, now)
        record(
            conv,
            TimelineKind.ASSIGNED,
            actor=actor,
            agent_id=agent.pk,
            previous=previous,
            reason=reason,
        )
        emit_conversation(conv, EventType.ASSIGNMENT_CHANGED)
    conversation.refresh_from_db()
    return conversation


# --- Customer preferences -------------------------------------------------------------------


def do_set_routing_preference(
    customer: Customer,
    *,
    opt_out_of_team: bool | None = None,
    opt_out_of_bots: bool | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> CustomerRoutingPreference:
    """Store the customer's routing choices (None leaves a choice unchanged). A waiting item
    of theirs is looked at again at the next tick with the new choice."""
    now = _now(now)
    changes: dict[str, Any] = {"updated_at": now}
    if opt_out_of_team is not None:
        changes["opt_out_of_team"] = opt_out_of_team
    if opt_out_of_bots is not None:
        changes["opt_out_of_bots"] = opt_out_of_bots
    with transaction.atomic():
        preference, _ = CustomerRoutingPreference.objects.update_or_create(
            customer=customer, defaults=changes
        )
        WorkItem.objects.filter(customer=customer, state=WorkState.QUEUED).update(
            opt_out_of_team=preference.opt_out_of_team,
            bots_allowed=not preference.opt_out_of_bots,
            step_index=0,
            step_entered_at=now,
            next_check_at=now,
            version=F("version") + 1,
        )
    return preference


# --- The periodic tick ----------------------------------------------------------------------


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
    from .batch import route_pending

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
            profile = (
                AgentProfile.objects.select_for_update()
                .filter(user_id=agent_id, presence=Presence.OFFLINE)
                .first()
            )
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


# --- Surge ----------------------------------------------------------------------------------


def surge_recipients(team_id: int) -> Recipients:
    """routing.surge goes to the team's group (its supervisors and agents) and admins."""
    return Recipients(staff=frozenset({team_group(team_id), admins_group()}))


def _surge_event(team: Team, episode: SurgeEpisode, *, active: bool, now: datetime) -> Event:
    return Event(
        EventType.ROUTING_SURGE,
        staff={
            "team": {"id": team.pk, "name": team.name},
            "active": active,
            "queue_length": episode.queue_length,
            "longest_wait_seconds": episode.longest_wait_seconds,
            "peak_queue_length": episode.peak_queue_length,
            "reason": episode.reason,
            "at": now.isoformat(),
        },
    )


def check_surges(*, now: datetime | None = None) -> list[tuple[int, bool]]:
    """Start a surge for teams whose queue length or longest wait passed their thresholds, end
    it when the queue falls back under SURGE_HYSTERESIS of them. A surge makes the team count as
    saturated, so its items overflow at once (their checks are made due now). Emits
    routing.surge (team + admins) on each change; SurgeEpisode rows are the record.
    Returns [(team id, active)] for the changes made."""
    now = _now(now)
    teams = list(
        Team.objects.filter(
            Q(surge_queue_length__isnull=False) | Q(surge_wait_seconds__isnull=False)
        )
    )
    if not teams:
        return []
    stats = team_queue_stats(team.pk for team in teams)
    open_episodes = {
        episode.team_id: episode
        for episode in SurgeEpisode.objects.filter(
            ended_at__isnull=True, team_id__in=[team.pk for team in teams]
        )
    }
    changes: list[tuple[int, bool]] = []
    for team in teams:
        length, oldest = stats.get(team.pk, (0, None))
        wait = int((now - oldest).total_seconds()) if oldest else 0
        over, under, why = _surge_levels(team, length, wait)
        episode = open_episodes.get(team.pk)
        if episode is None and over:
            if _start_surge(team, length, wait, why, now):
                changes.append((team.pk, True))
        elif episode is not None and under:
            with transaction.atomic():
                ended = SurgeEpisode.objects.filter(pk=episode.pk, ended_at__isnull=True).update(
                    ended_at=now
                )
                if ended:
                    episode.queue_length, episode.longest_wait_seconds = length, wait
                    send_event_on_commit(
                        _surge_event(team, episode, active=False, now=now),
                        surge_recipients(team.pk),
                    )
                    changes.append((team.pk, False))
        elif episode is not None and length > episode.peak_queue_length:
            SurgeEpisode.objects.filter(pk=episode.pk).update(peak_queue_length=length)
    return changes


def _surge_levels(team: Team, length: int, wait: int) -> tuple[bool, bool, str]:
    over_reasons = []
    under = True
    if team.surge_queue_length is not None:
        if length >= team.surge_queue_length:
            over_reasons.append(f"{length} waiting (threshold {team.surge_queue_length})")
        if length >= team.surge_queue_length * SURGE_HYSTERESIS:
            under = False
    if team.surge_wait_seconds is not None:
        if wait >= team.surge_wait_seconds:
            over_reasons.append(f"longest wait {wait} s (threshold {team.surge_wait_seconds} s)")
        if wait >= team.surge_wait_seconds * SURGE_HYSTERESIS:
            under = False
    return bool(over_reasons), under, "; ".join(over_reasons)


def _start_surge(team: Team, length: int, wait: int, why: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            episode = SurgeEpisode.objects.create(
                team=team,
                started_at=now,
                queue_length=length,
                longest_wait_seconds=wait,
                peak_queue_length=length,
                reason=why,
            )
            # Widen: the team's waiting items are decided again at once (they overflow).
            WorkItem.objects.filter(home_team=team, state=WorkState.QUEUED).update(
                next_check_at=now
            )
            send_event_on_commit(
                _surge_event(team, episode, active=True, now=now), surge_recipients(team.pk)
            )
    except IntegrityError:
        return False  # another worker started it
    return True


def queue_summary(team: Team) -> dict[str, Any]:
    """Queue length and longest wait of a team's items (for supervisors and the ETA work)."""
    row = WorkItem.objects.filter(home_team=team, state=WorkState.QUEUED).aggregate(
        n=Count("pk"), oldest=Min("enqueued_at")
    )
    return {"queued": row["n"], "oldest": row["oldest"]}
