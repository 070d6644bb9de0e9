"""Routing's writes: work items, claims, single-item decisions, offers, explicit assignment.

This module is the seam other apps call: `route_conversation`, `offer_waiting_work`,
`agent_freed`, `close_work_item` (conversations and accounts reach them through their hooks,
provided in RoutingConfig.ready) and `do_assign_conversation`. Where an item waits is stored by
routing/placement.py; the periodic tick is routing/tick.py, surges routing/surge.py.
Decisions come
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

from teamline.accounts.models import AgentProfile, User
from teamline.analytics import actions as analytics
from teamline.conversations.events import emit_conversation, record
from teamline.conversations.locks import lock_agent_then_conversation, lock_available_agent
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.core.compiled import CompiledInsert, CompiledOnce
from teamline.core.errors import InvalidInput
from teamline.core.events import EventType
from teamline.customers.models import Customer
from teamline.proactive.outages import do_tag_outage_contact
from teamline.proactive.queries import active_outages_in
from teamline.teams.hours import calendars_for
from teamline.teams.models import Team

from . import engine, eta
from .models import (
    LIVE_CALLBACK_STATES,
    LIVE_STATES,
    Callback,
    CallbackState,
    CustomerRoutingPreference,
    QueueEntry,
    WorkItem,
    WorkKind,
    WorkState,
)
from .placement import apply_placement
from .queries import (
    item_snapshot,
    load_agents,
    load_context,
    load_routing_context,
    policy_by_id,
    policy_for_inbox,
    service_level_targets,
    trusted_prefix,
)
from .scheduling import work_closed

logger = logging.getLogger(__name__)

ASSIGNED = "assigned"
UNAVAILABLE = "unavailable"
FULL = "full"
TAKEN = "taken"

# Bounds that keep every decision's cost independent of the queue length.
MAX_CLAIM_TRIES = 5  # eligible agents tried per item-driven decision
OFFER_SCAN = 50  # queue entries looked at per round of an agent-driven offer
OFFER_ROUNDS = 20


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
    record_offer(row, conversation, now)
    tag_outage_contact(conversation, now)
    return row


def queue_threshold(channel_kind: str) -> int:
    """The service-level threshold T of a queue (team × channel kind): the normal-priority
    target of its channel kind (ServiceLevelTarget rows over engine.DEFAULT_TARGETS)."""
    return engine.target_seconds(channel_kind, engine.NORMAL, service_level_targets())


def record_offer(
    row: WorkItem, conversation: Conversation, now: datetime, *, new_customer: bool = False
) -> None:
    """The work item entered its team's queue: a contact is offered (analytics' facts, in the
    caller's transaction; idempotent on the item). `new_customer`: the customer was created
    in this transaction (no earlier contact of theirs to look at)."""
    analytics.record_offered(
        first_contact=new_customer,
        work_item_id=row.pk,
        conversation_id=conversation.pk,
        customer_id=row.customer_id,
        team_id=row.home_team_id,
        queue=row.channel_kind,
        channel=conversation.channel,
        threshold_seconds=queue_threshold(row.channel_kind),
        at=now,
    )


def tag_outage_contact(conversation: Conversation, now: datetime) -> None:
    """A contact from a region with an active outage carries the outage (proactive: the desk
    shows it, the customer gets its follow-up). No query unless the customer has a region (the
    active outages are a cached snapshot)."""
    for outage in active_outages_in(conversation.customer.region):
        do_tag_outage_contact(conversation, outage.id, now=now)


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
    if closed:
        # The contact left its queue: abandoned if nobody answered and the customer left or
        # the conversation was resolved without a human answer (analytics' facts).
        analytics.record_left_queue(
            ids,
            now,
            abandoned=state == WorkState.ABANDONED,
            resolved=conversation.status == Status.RESOLVED,
        )
    if closed and WorkItem.objects.filter(pk__in=ids).exclude(kind=WorkKind.CONVERSATION).exists():
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
        profile = lock_available_agent(agent_id)
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
    current: bool = False,
    new_customer: bool = False,
) -> int | None:
    """Find an agent for a new or reopened conversation; queue it if nobody may take it now.

    Creates the conversation's queued work item in the caller's transaction. Returns the
    assignee's id, or None when the conversation waits (its timeline says where and why).

    `defer=True` (bulk producers: the worker's inbound pipeline) only creates the item, due
    now, and asks (in the same transaction) for one `route_pending` task: the batch router
    decides it with the other arrivals of the moment (routing/batch.py). Returns None then.

    `current`: the caller holds the conversation's row lock or created it in this
    transaction, with its customer loaded (conversations' inbound message): it is not read
    again, only the customer's routing preference is (none for a `new_customer`, created in
    this transaction too: nor are their earlier contacts, for the KPI facts).
    """
    now = _now(now)
    if current:
        conv = conversation
        preference = None if new_customer else _preference_of.first(conv.customer_id)
        # Cached where _new_work_item reads it, as the select_related below caches it.
        _routing_preference.set_cached_value(conv.customer, preference)
    else:
        conv = Conversation.objects.select_related("customer__routing_preference", "team").get(
            pk=conversation.pk
        )
    if conv.assignee_id or conv.status != Status.OPEN:
        return conv.assignee_id
    if defer:
        from .tasks import request_batch_routing

        # One statement: a live item that exists already (a concurrent arrival, a retried
        # task) wins, and was offered when it was created.
        row = _new_work_item(conv, now, required_skills)
        if _insert_item.insert_new(row):
            record_offer(row, conv, now, new_customer=new_customer)
        tag_outage_contact(conv, now)
        request_batch_routing()
        return None
    row = enqueue_conversation(conv, now=now, required_skills=required_skills)
    if row.state != WorkState.QUEUED:
        return row.assignee_id
    return _route(row, conv, now)


# An inbound message's routing: its customer's preference read and its work item written by
# statements compiled once (core/compiled.py).
_preference_of = CompiledOnce(
    lambda customer_id: CustomerRoutingPreference.objects.filter(customer_id=customer_id)
)
_insert_item = CompiledInsert(WorkItem)
_routing_preference = CustomerRoutingPreference._meta.get_field("customer").remote_field


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
    apply_placement(row, conv, item, placement, policy, ctx, now)
    return None


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


def switch_channel_kind(
    conversation: Conversation,
    channel_kind: str,
    *,
    now: datetime,
    priority: int | None = None,
) -> WorkItem | None:
    """The customer now waits on another kind of channel (a caller asking for their team while
    their chat waits): an open, unassigned conversation without a queued item is routed as
    `channel_kind`; one already queued keeps its place in line and has its item and queue entry
    turned to `channel_kind` (conditional on the item's version, so a concurrent claim wins);
    an assigned one stays with its agent. The caller holds the conversation's lock
    (conversations.locks). Returns the conversation's live work item, if any.

    `priority` (engine.URGENT for a caller who chose the urgent option) raises the
    conversation's and its waiting item's priority, never lowers it: the item keeps the better
    of its old and new place in line and is placed and offered again at once, since a team in
    limited mode serves it now."""
    if conversation.status == Status.OPEN and conversation.assignee_id is None:
        raise_to = max(conversation.priority, priority or 0)
        row = WorkItem.objects.filter(conversation=conversation, state=WorkState.QUEUED).first()
        if row is None:
            Conversation.objects.filter(pk=conversation.pk).update(
                channel_kind=channel_kind, priority=raise_to
            )
            conversation.channel_kind, conversation.priority = channel_kind, raise_to
            route_conversation(conversation, now=now)
        elif row.priority < raise_to:
            rank = engine.rank_at(
                row.enqueued_at, channel_kind, raise_to, row.vip, service_level_targets()
            )
            if WorkItem.objects.filter(pk=row.pk, version=row.version).update(
                channel_kind=channel_kind,
                priority=raise_to,
                rank_at=min(row.rank_at, rank),
                next_check_at=now,
                version=row.version + 1,
            ):
                QueueEntry.objects.filter(work_item=row).delete()
                Conversation.objects.filter(pk=conversation.pk).update(
                    channel_kind=channel_kind, priority=raise_to
                )
                conversation.channel_kind, conversation.priority = channel_kind, raise_to
                route_conversation(conversation, now=now)
        elif row.channel_kind != channel_kind and WorkItem.objects.filter(
            pk=row.pk, version=row.version
        ).update(channel_kind=channel_kind, version=row.version + 1):
            QueueEntry.objects.filter(work_item=row).update(channel_kind=channel_kind)
            Conversation.objects.filter(pk=conversation.pk).update(channel_kind=channel_kind)
            conversation.channel_kind = channel_kind
    return WorkItem.objects.filter(conversation=conversation, state__in=LIVE_STATES).first()


def priority_changed(conversation: Conversation, *, now: datetime) -> None:
    """An agent or supervisor changed the conversation's priority (conversations.labels.
    do_set_priority, which holds the conversation's lock): its queued work item takes the new
    priority and the place in line it gives (rank_at from the time it arrived, so it keeps the
    waiting it has done), conditional on the item's version so a concurrent claim wins, and is
    decided again at once — a team in limited mode serves an urgent item now. An assigned or
    closed conversation has no queued item: nothing else changes."""
    if conversation.status != Status.OPEN or conversation.assignee_id is not None:
        return
    row = WorkItem.objects.filter(conversation=conversation, state=WorkState.QUEUED).first()
    if row is None or row.priority == conversation.priority:
        return
    rank = engine.rank_at(
        row.enqueued_at, row.channel_kind, conversation.priority, row.vip, service_level_targets()
    )
    if WorkItem.objects.filter(pk=row.pk, version=row.version).update(
        priority=conversation.priority, rank_at=rank, next_check_at=now, version=row.version + 1
    ):
        QueueEntry.objects.filter(work_item=row).delete()
        route_conversation(conversation, now=now)


def return_to_channel_kind(conversation: Conversation, channel_kind: str, *, now: datetime) -> None:
    """The other channel ended while the conversation waited on it (a caller hung up in line):
    the conversation waits again as `channel_kind`, routed anew. The caller holds the
    conversation's lock and has closed the item of the channel that ended."""
    Conversation.objects.filter(pk=conversation.pk).update(channel_kind=channel_kind)
    conversation.refresh_from_db()
    route_conversation(conversation, now=now)


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
    languages = sorted(engine.agent_languages(state.languages))
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
    conversation: Conversation,
    agent: User,
    *,
    actor: User | None,
    reason: str,
    require_member: bool = True,
) -> Conversation:
    """Explicit assignment (a supervisor's reassign, seeding, later transfers): not bound by
    presence or capacity, but the agent must be a member of the conversation's team
    (`require_member=False`: a supervisor taking it over themselves, routing/supervision.py).

    Locks agent profile, then conversation; marks the work item assigned.
    Emits assignment.changed; records `assigned`.
    """
    if require_member and not agent.teams.filter(pk=conversation.team_id).exists():
        raise InvalidInput(f"{agent.name} is not a member of {conversation.team.name}.")
    with transaction.atomic():
        conv = lock_agent_then_conversation(agent.pk, conversation.pk)
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


# --- Queue summary ----------------------------------------------------------------------------


def queue_summary(team: Team) -> dict[str, Any]:
    """Queue length and longest wait of a team's items (for supervisors and the ETA work)."""
    row = WorkItem.objects.filter(home_team=team, state=WorkState.QUEUED).aggregate(
        n=Count("pk"), oldest=Min("enqueued_at")
    )
    return {"queued": row["n"], "oldest": row["oldest"]}
