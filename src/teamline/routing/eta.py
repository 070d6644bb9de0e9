"""Queue position and estimated wait for every waiting work item, on every channel.

Position. A queued item is offered to the agents of its *pools* (its QueueEntry rows: its
sticky agent, its teams, or every team) in the engine's order, `rank_at` then id (aging: see
engine.rank_at). Its position is 1 + the number of other queued items of the same channel kind
ranked ahead of it that compete for the same agents: an entry in one of its teams, an entry for
its sticky agent, or an entry open to every team (which competes with everybody; an item open
to every team competes with everything ahead of it).

Estimated wait (ETA).

    eta = position × recent mean handle time ÷ serving capacity

  - *recent mean handle time*: the mean of (closed − assigned) over work items of the channel
    kind closed in the last hour (`HANDLE_WINDOW`) in the pool's teams, when there are at least
    `MIN_SAMPLES` of them; otherwise `DEFAULT_HANDLE_SECONDS` for the kind (a quiet hour says
    nothing about handle times).
  - *serving capacity*: the sum of the channel kind's capacity (voice 1, chat 3, …) of the pool's
    agents who are online (available, busy or wrapping up): that many items are handled at once,
    each taking a handle time, so one place in line is worth handle time ÷ capacity.
  - When nobody in the pool serves the item now (closed, holiday, urgent matters only) the ETA
    starts at the next opening and uses the capacity of every member of the pool's teams; the
    payload then says `serving: false` and `answer_from` ("09:00 tomorrow", the team's local
    time), which is the honest promise the widget shows.
  - When the pool is open but nobody is online the ETA is unknown (null): we do not invent one.

Limits: it is a mean-value estimate (no variance, no abandonment ahead, no items that will
overtake by aging or priority later, no overflow to a wider pool after a timeout), recomputed on
every tick and after an item ahead is assigned (by the task worker, at most one push per
`PUSH_THROTTLE_SECONDS` for all teams together, never per routed item); treat it as "about N
minutes". Positions are computed over at most `SNAPSHOT_LIMIT` items per push, in one query
(pushes) or one query per item (the API and the widget's ready frame).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

from teamline.accounts.models import AgentProfile, Presence, default_capacity
from teamline.conversations.models import Conversation
from teamline.core.events import Event, EventType, Recipients, customer_group, send_event_on_commit
from teamline.teams.hours import admits, calendars_for, format_local, mode_at, next_opening_at
from teamline.teams.models import Team

from .models import QueueEntry, WorkItem, WorkState
from .queries import explain

HANDLE_WINDOW = timedelta(hours=1)
MIN_SAMPLES = 3
MAX_SAMPLES = 500
DEFAULT_HANDLE_SECONDS = {"chat": 300, "voice": 240, "email": 1800}
FALLBACK_HANDLE_SECONDS = 300
SNAPSHOT_LIMIT = 500
# At most one assignment-driven push (all teams together) per this many seconds (assignments
# come in bursts).
PUSH_THROTTLE_SECONDS = 1
# A shared estimate (`shared_estimate_parts`) is reused for this long by every waiting item of
# the same pool group; positions are always counted afresh.
SHARED_ESTIMATE_SECONDS = 2


@dataclass(frozen=True)
class Pools:
    """The pools of one queued item, from its queue entries."""

    channel_kind: str
    team_ids: frozenset[int]
    agent_id: int | None
    every_team: bool


@dataclass(frozen=True)
class QueueStatus:
    work_item_id: int
    conversation_id: int | None
    customer_id: int | None
    kind: str
    position: int | None
    eta_seconds: int | None
    serving: bool
    answer_from: str | None

    def for_customer(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "eta_seconds": self.eta_seconds,
            "kind": self.kind,
            "serving": self.serving,
            "answer_from": self.answer_from,
        }


def _pools_of(rows: Iterable[tuple[int | None, int | None, str]]) -> Pools | None:
    teams: set[int] = set()
    agent = None
    every = False
    kind = ""
    for team_id, agent_id, channel_kind in rows:
        kind = channel_kind
        if agent_id is not None:
            agent = agent_id
        elif team_id is not None:
            teams.add(team_id)
        else:
            every = True
    if not kind:
        return None
    return Pools(kind, frozenset(teams), agent, every)


def _competes(mine: Pools, team_id: int | None, agent_id: int | None) -> bool:
    if mine.every_team:
        return True
    if agent_id is None and team_id is None:
        return True  # open to every team: competes with everybody
    if agent_id is not None:
        return agent_id == mine.agent_id
    return team_id in mine.team_ids


def position_of(row: WorkItem) -> tuple[int | None, Pools | None]:
    """(1-based position in its pools, the pools) of a queued item; (None, None) while it has no
    queue entry (being placed, or a callback waiting for its retry time). Two queries."""
    entries = list(
        QueueEntry.objects.filter(work_item=row).values_list("team_id", "agent_id", "channel_kind")
    )
    pools = _pools_of(entries)
    if pools is None:
        return None, None
    ahead = QueueEntry.objects.filter(channel_kind=pools.channel_kind).filter(
        Q(rank_at__lt=row.rank_at) | Q(rank_at=row.rank_at, work_item_id__lt=row.pk)
    )
    if not pools.every_team:
        scope = Q(team__isnull=True, agent__isnull=True) | Q(team_id__in=sorted(pools.team_ids))
        if pools.agent_id is not None:
            scope |= Q(agent_id=pools.agent_id)
        ahead = ahead.filter(scope)
    count = ahead.exclude(work_item=row).values("work_item_id").distinct().count()
    return count + 1, pools


def recent_handle_seconds(
    channel_kind: str, team_ids: Iterable[int] | None, now: datetime
) -> float:
    """Mean handle time of the kind's items closed in the last hour (fallback: the default)."""
    rows = WorkItem.objects.filter(
        state=WorkState.DONE,
        channel_kind=channel_kind,
        assigned_at__isnull=False,
        closed_at__gte=now - HANDLE_WINDOW,
        closed_at__lte=now,
    )
    if team_ids is not None:
        rows = rows.filter(home_team_id__in=sorted(team_ids))
    pairs = list(rows.order_by("-closed_at").values_list("assigned_at", "closed_at")[:MAX_SAMPLES])
    samples = [
        (closed - assigned).total_seconds()
        for assigned, closed in pairs
        if assigned is not None and closed is not None and closed >= assigned
    ]
    if len(samples) < MIN_SAMPLES:
        return float(DEFAULT_HANDLE_SECONDS.get(channel_kind, FALLBACK_HANDLE_SECONDS))
    return sum(samples) / len(samples)


def _capacity(channel_kind: str, team_ids: Iterable[int] | None, *, online_only: bool) -> int:
    profiles = AgentProfile.objects.filter(user__is_active=True)
    if online_only:
        profiles = profiles.exclude(presence=Presence.OFFLINE)
    if team_ids is not None:
        profiles = profiles.filter(user__teams__in=sorted(team_ids))
    default = int(default_capacity().get(channel_kind, 0))
    total = 0
    for capacity in profiles.distinct().values_list("capacity", flat=True):
        total += int((capacity or {}).get(channel_kind, default))
    return total


def estimate_parts(
    row: WorkItem, pools: Pools | None, now: datetime
) -> tuple[float, float | None, bool, str | None]:
    """(base seconds, seconds per place in line or None when unknown, serving now,
    answer_from text or None): eta = base + position × per place."""
    if pools is None:
        return 0.0, None, True, None
    team_ids: set[int] | None
    if pools.every_team:
        team_ids = None
    elif pools.agent_id is not None:
        team_ids = set(
            Team.members.through.objects.filter(user_id=pools.agent_id).values_list(
                "team_id", flat=True
            )
        ) | set(pools.team_ids)
    else:
        team_ids = set(pools.team_ids)
    calendar_ids = (
        set(team_ids) if team_ids is not None else set(Team.objects.values_list("pk", flat=True))
    )
    if row.home_team_id:
        calendar_ids.add(row.home_team_id)
    calendars = calendars_for(calendar_ids, now=now)
    urgent = row.priority >= 2
    pool_ids = team_ids if team_ids is not None else set(calendars)
    pool_calendars = [calendars[t] for t in sorted(pool_ids) if t in calendars]
    serving = not pool_calendars or any(
        admits(mode_at(calendar, now), urgent=urgent) for calendar in pool_calendars
    )
    handle = recent_handle_seconds(pools.channel_kind, team_ids, now)
    if serving:
        capacity = _capacity(pools.channel_kind, team_ids, online_only=True)
        return 0.0, (handle / capacity if capacity > 0 else None), True, None
    openings = [
        moment
        for calendar in pool_calendars
        if (moment := next_opening_at(calendar, now, urgent=urgent)) is not None
    ]
    if not openings:
        return 0.0, None, False, None
    opens = min(openings)
    home = calendars.get(row.home_team_id) if row.home_team_id else None
    label = format_local(home or pool_calendars[0], opens, now)
    capacity = max(_capacity(pools.channel_kind, team_ids, online_only=False), 1)
    return (opens - now).total_seconds(), handle / capacity, False, label


def _estimate_key(row: WorkItem, pools: Pools) -> str:
    """The cache key of a pool group: what estimate_parts depends on besides the clock."""
    teams = ",".join(str(t) for t in sorted(pools.team_ids))
    every = "all" if pools.every_team else "some"
    urgent = int(row.priority >= 2)
    return (
        f"queue-estimate:{pools.channel_kind}:{every}:{teams}:{pools.agent_id or ''}:"
        f"{row.home_team_id or ''}:{urgent}"
    )


def shared_estimate_parts(
    row: WorkItem, pools: Pools | None, now: datetime
) -> tuple[float, float | None, bool, str | None]:
    """estimate_parts, computed at most once per SHARED_ESTIMATE_SECONDS for each pool group and
    shared through the cache by every item waiting in it, in every process: the parts are
    figures of the group (handle time, serving capacity, hours), not of the item. Many callers
    on hold ask for them every 30-60 s each; one computation costs six queries.

    Only real figures are shared: a value is exactly what estimate_parts answered at most that
    many seconds ago, and the time to an opening is kept as a moment, so it keeps counting
    down. Concurrent misses each compute and store a real answer (the last one stays)."""
    if pools is None:
        return estimate_parts(row, pools, now)
    key = _estimate_key(row, pools)
    cached = cache.get(key)
    if cached is not None:
        opens_at, per_place, serving, answer_from = cached
        base = max(0.0, opens_at - now.timestamp()) if opens_at is not None else 0.0
        return base, per_place, serving, answer_from
    base, per_place, serving, answer_from = estimate_parts(row, pools, now)
    opens_at = now.timestamp() + base if base > 0 else None
    cache.set(key, (opens_at, per_place, serving, answer_from), timeout=SHARED_ESTIMATE_SECONDS)
    return base, per_place, serving, answer_from


def _eta(base: float, per_place: float | None, position: int | None) -> int | None:
    if per_place is None or position is None:
        return None
    return math.ceil(base + position * per_place)


def status_of(row: WorkItem, now: datetime, *, shared_estimate: bool = False) -> QueueStatus:
    """The item's position (counted now) and its estimated wait; `shared_estimate`: the
    estimate's parts may come from shared_estimate_parts (up to SHARED_ESTIMATE_SECONDS old)."""
    position, pools = position_of(row) if row.state == WorkState.QUEUED else (None, None)
    parts = shared_estimate_parts if shared_estimate else estimate_parts
    base, per_place, serving, answer_from = parts(row, pools, now)
    eta = _eta(base, per_place, position)
    return QueueStatus(
        work_item_id=row.pk,
        conversation_id=row.conversation_id,
        customer_id=row.customer_id,
        kind=row.kind,
        position=position,
        eta_seconds=eta,
        serving=serving,
        answer_from=answer_from,
    )


def _queued_item(conversation: Conversation) -> WorkItem | None:
    return (
        WorkItem.objects.filter(conversation=conversation, state=WorkState.QUEUED)
        .order_by("-pk")
        .first()
    )


def queue_status(
    conversation: Conversation,
    now: datetime,
    *,
    item: WorkItem | None = None,
    shared_estimate: bool = False,
) -> QueueStatus | None:
    """Where the conversation's queued work item stands, or None when it is not waiting.

    `item`: a work item of the conversation the caller already loaded (a phone call's): used as
    it is while it is queued (a conversation has at most one live item), else the queued item
    is looked up. `shared_estimate`: see status_of (the IVR's hold loop)."""
    if (
        item is not None
        and item.state == WorkState.QUEUED
        and item.conversation_id == conversation.pk
    ):
        row: WorkItem | None = item
    else:
        row = _queued_item(conversation)
    return status_of(row, now, shared_estimate=shared_estimate) if row is not None else None


def queue_report(conversation: Conversation, now: datetime) -> dict[str, Any] | None:
    """The staff view of a waiting conversation: position and ETA plus routing's explanation
    of where the item sits, or None when it is not waiting."""
    row = _queued_item(conversation)
    if row is None:
        return None
    return {**status_of(row, now).for_customer(), "explanation": explain(row, now)}


def queued_items(customer_id: Any) -> QuerySet[WorkItem]:
    """The customer's waiting work items (`customer_id` may be an OuterRef)."""
    return WorkItem.objects.filter(customer_id=customer_id, state=WorkState.QUEUED)


def customer_queue(customer_id: int, now: datetime) -> dict[str, Any] | None:
    """The widget's view: the customer's waiting item (the newest), or None."""
    row = queued_items(customer_id).order_by("-pk").first()
    if row is None:
        return None
    payload = status_of(row, now).for_customer()
    # The customer now knows this: pushes compare against it, and its end is worth a push.
    cache.set(f"queue-pushed:{row.pk}", _fingerprint(payload), timeout=3600)
    return payload


# --- Pushes ---------------------------------------------------------------------------------


def snapshot(now: datetime, *, team_ids: Iterable[int] | None = None) -> list[QueueStatus]:
    """Positions and ETAs of the items among the first SNAPSHOT_LIMIT queue entries (those in
    some teams' pools, or all), in a bounded number of queries: the entries, the items, then a
    few per pool group."""
    # Positions are counted over the whole head of the queue (consistent with position_of);
    # `team_ids` only chooses whose status is returned.
    only = set(team_ids) if team_ids is not None else None
    entries = QueueEntry.objects.filter(work_item__state=WorkState.QUEUED)
    rows = list(
        entries.order_by("rank_at", "work_item_id").values_list(
            "work_item_id", "team_id", "agent_id", "channel_kind", "rank_at"
        )[:SNAPSHOT_LIMIT]
    )
    by_item: dict[int, list[tuple[int | None, int | None, str]]] = {}
    order: list[int] = []
    for item_id, team_id, agent_id, kind, _rank in rows:
        if item_id not in by_item:
            order.append(item_id)
        by_item.setdefault(item_id, []).append((team_id, agent_id, kind))
    items = {row.pk: row for row in WorkItem.objects.filter(pk__in=order, state=WorkState.QUEUED)}
    statuses: list[QueueStatus] = []
    parts: dict[tuple[Any, ...], tuple[float, float | None, bool, str | None]] = {}
    for index, item_id in enumerate(order):
        row = items.get(item_id)
        pools = _pools_of(by_item[item_id])
        if row is None or pools is None:
            continue
        if only is not None and not (pools.every_team or pools.team_ids & only):
            continue
        ahead = 0
        for other in order[:index]:
            if pools.channel_kind != by_item[other][0][2]:
                continue
            if any(_competes(pools, t, a) for t, a, _k in by_item[other]):
                ahead += 1
        position = ahead + 1
        key = (pools, row.home_team_id, row.priority >= 2)
        if key not in parts:
            # Linear in the position: the parts are computed once per pool group.
            parts[key] = estimate_parts(row, pools, now)
        base, per_place, serving, answer_from = parts[key]
        statuses.append(
            QueueStatus(
                work_item_id=row.pk,
                conversation_id=row.conversation_id,
                customer_id=row.customer_id,
                kind=row.kind,
                position=position,
                eta_seconds=_eta(base, per_place, position),
                serving=serving,
                answer_from=answer_from,
            )
        )
    return statuses


def _fingerprint(payload: dict[str, Any] | None) -> str:
    if payload is None:
        return "none"
    eta = payload.get("eta_seconds")
    minutes = None if eta is None else int(eta // 60)
    return f"{payload['position']}:{minutes}:{payload['serving']}:{payload['kind']}"


def _send(customer_id: int, payload: dict[str, Any] | None, item_id: int) -> None:
    send_event_on_commit(
        Event(
            EventType.QUEUE_UPDATED,
            staff={"work_item_id": item_id, "queue": payload},
            customer={"queue": payload},
        ),
        Recipients(customer=frozenset({customer_group(customer_id)})),
    )


def push_queue_updates(
    now: datetime, *, team_ids: Iterable[int] | None = None, force: bool = False
) -> int:
    """Send `queue.updated` to each waiting customer whose position or ETA (to the minute)
    changed since the last push. The cache only dedupes pushes; the database stays the truth
    (the widget gets its position again in `ready` on every reconnect). Returns pushes sent."""
    statuses = [s for s in snapshot(now, team_ids=team_ids) if s.customer_id is not None]
    if not statuses:
        return 0
    keys = {s.work_item_id: f"queue-pushed:{s.work_item_id}" for s in statuses}
    seen = {} if force else cache.get_many(list(keys.values()))
    changed: dict[str, str] = {}
    sent = 0
    for status in statuses:
        payload = status.for_customer()
        mark = _fingerprint(payload)
        key = keys[status.work_item_id]
        if seen.get(key) == mark:
            continue
        changed[key] = mark
        assert status.customer_id is not None
        _send(status.customer_id, payload, status.work_item_id)
        sent += 1
    if changed:
        cache.set_many(changed, timeout=3600)
    return sent


def queue_left(work_item_id: int, customer_id: int | None) -> None:
    """The item left the queue (assigned): tell its customer once, if they were shown a place
    in line (a customer answered at once never hears of a queue)."""
    if customer_id is None:
        return
    key = f"queue-pushed:{work_item_id}"
    if cache.get(key) in (None, "none"):
        return
    cache.set(key, "none", timeout=3600)
    _send(customer_id, None, work_item_id)


# Teams with an assignment whose customers have not been told their new places yet (per process;
# the periodic tick pushes every queue anyway, so nothing is lost if a process dies).
_pending_teams: set[int] = set()


def after_assignment(team_ids: Iterable[int], now: datetime) -> None:
    """An item ahead was assigned: the task worker pushes the new positions of the teams'
    queues (a push_queue_positions task, enqueued in the assignment's transaction, so neither
    a desk request nor the batch router waits for the snapshot). Debounced: at most one push
    (one snapshot, covering every team with an assignment since the last push) per
    PUSH_THROTTLE_SECONDS, however many teams and assignments; the tick does the rest."""
    from .tasks import push_queue_positions

    _pending_teams.update(team for team in team_ids if team is not None)
    if not _pending_teams:
        return
    slot = int(time.time() // PUSH_THROTTLE_SECONDS)
    if not cache.add(f"queue-push:{slot}", 1, timeout=5):
        return
    due = sorted(_pending_teams)
    _pending_teams.clear()
    push_queue_positions.enqueue(team_ids=due)
