"""Reads of routing state, and the loaders that turn database rows into the engine's plain data.

Every loader costs a fixed number of queries, whatever the queue length: policies by inbox,
calendars by team, online agents of the teams a policy reaches, their load in one aggregate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, FloatField, IntegerField, Min, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Greatest

from teamline.accounts.models import AgentProfile, Presence, default_capacity
from teamline.conversations.models import Conversation, Status
from teamline.teams.hours import Calendar, calendars_for, config_version
from teamline.teams.models import Team

from . import engine
from .models import (
    CustomerRoutingPreference,
    RoutingPolicy,
    ServiceLevelTarget,
    SurgeEpisode,
    WorkItem,
    WorkKind,
    WorkState,
)

Targets = dict[tuple[str, int], tuple[int, int]]
Membership = Team.members.through

# --- Configuration cache -------------------------------------------------------------------
# Calendars, policies and service-level targets change rarely and are read by every decision:
# each process keeps them for ROUTING_CONFIG_CACHE_SECONDS, and drops them at once when this
# process changes them (teams.hours.config_version, bumped by model signals and team actions).

_config: dict[Hashable, tuple[int, float, Any]] = {}
_CONFIG_MAX_ENTRIES = 20_000


def _config_ttl() -> float:
    return float(settings.TEAMLINE.get("ROUTING_CONFIG_CACHE_SECONDS", 5))


def _cached(key: Hashable, load: Callable[[], Any]) -> Any:
    ttl = _config_ttl()
    if ttl <= 0:
        return load()
    version, clock = config_version(), time.monotonic()
    hit = _config.get(key)
    if hit is not None and hit[0] == version and hit[1] > clock:
        return hit[2]
    value = load()
    if len(_config) >= _CONFIG_MAX_ENTRIES:
        _config.clear()
    _config[key] = (version, clock + ttl, value)
    return value


def team_ids_all() -> set[int]:
    return set(_cached("teams", lambda: frozenset(Team.objects.values_list("pk", flat=True))))


def cached_calendars(team_ids: Iterable[int], *, now: datetime) -> dict[int, Calendar]:
    """`calendars_for`, from the per-process cache where fresh (at most one load for the rest)."""
    ids = set(team_ids)
    if _config_ttl() <= 0:
        return calendars_for(ids, now=now)
    since = (now - timedelta(days=2)).date()
    version, clock = config_version(), time.monotonic()
    found: dict[int, Calendar] = {}
    missing = set()
    for team_id in ids:
        hit = _config.get(("calendar", team_id, since))
        if hit is not None and hit[0] == version and hit[1] > clock:
            if hit[2] is not None:
                found[team_id] = hit[2]
        else:
            missing.add(team_id)
    if missing:
        loaded = calendars_for(missing, now=now)
        if len(_config) + len(missing) >= _CONFIG_MAX_ENTRIES:
            _config.clear()
        expires = clock + _config_ttl()
        for team_id in missing:
            _config[("calendar", team_id, since)] = (version, expires, loaded.get(team_id))
        found.update(loaded)
    return found


def policy_spec(row: RoutingPolicy | None) -> engine.Policy:
    if row is None:
        return engine.DEFAULT_POLICY
    steps = tuple(
        engine.Step(
            kind=step.kind,
            timeout_seconds=step.timeout_seconds,
            skip_when_closed=step.skip_when_closed,
            leave_when_saturated=step.leave_when_saturated,
            only_when_saturated=step.only_when_saturated,
            required_skills={str(k): int(v) for k, v in (step.required_skills or {}).items()},
            min_proficiency=step.min_proficiency,
            target_team_ids=tuple(sorted(team.pk for team in step.target_teams.all())),
        )
        for step in row.steps.all()
    )
    return engine.Policy(
        name=row.name,
        steps=steps or engine.DEFAULT_POLICY.steps,
        required_skills={str(k): int(v) for k, v in (row.required_skills or {}).items()},
        match_language=row.match_language,
        language_relax_seconds=row.language_relax_seconds,
        give_back_kinds=frozenset(row.give_back_kinds or ()),
        offline_grace_seconds=row.offline_grace_seconds,
    )


def _policy_table() -> tuple[tuple[int, int | None, engine.Policy], ...]:
    """Every routing policy as (row id, inbox id, spec), in id order (a handful of rows)."""
    rows = RoutingPolicy.objects.prefetch_related("steps__target_teams").order_by("pk")
    return tuple((row.pk, row.inbox_id, policy_spec(row)) for row in rows)


def _policies() -> tuple[tuple[int, int | None, engine.Policy], ...]:
    table: tuple[tuple[int, int | None, engine.Policy], ...] = _cached("policies", _policy_table)
    return table


def policy_for_inbox(inbox_id: int | None) -> tuple[engine.Policy, int | None]:
    """The inbox's policy, else the organisation's default policy, else the built-in default.
    Returns (policy, policy row id or None)."""
    table = _policies()
    found = next((r for r in table if r[1] == inbox_id and inbox_id is not None), None)
    found = found or next((r for r in table if r[1] is None), None)
    if found is None:
        return policy_spec(None), None
    return found[2], found[0]


def policy_by_id(policy_id: int | None, inbox_id: int | None) -> engine.Policy:
    if policy_id is not None:
        found = next((r for r in _policies() if r[0] == policy_id), None)
        if found is not None:
            return found[2]
    return policy_for_inbox(inbox_id)[0]


def service_level_targets() -> Targets:
    targets: Targets = _cached("targets", _service_level_targets)
    return dict(targets)


def service_level_target_table() -> Targets:
    """Every (channel kind, priority) target in force: the defaults and the stored rows."""
    return {**engine.DEFAULT_TARGETS, **service_level_targets()}


def _service_level_targets() -> Targets:
    return {
        (kind, priority): (percent, seconds)
        for kind, priority, percent, seconds in ServiceLevelTarget.objects.values_list(
            "channel_kind", "priority", "percent", "seconds"
        )
    }


def routing_preference(customer_id: int | None) -> CustomerRoutingPreference | None:
    if customer_id is None:
        return None
    return CustomerRoutingPreference.objects.filter(customer_id=customer_id).first()


def bots_allowed(customer_id: int) -> bool:
    """Whether self-service may answer this customer (False once they opted out of bots)."""
    preference = routing_preference(customer_id)
    return not (preference and preference.opt_out_of_bots)


def item_snapshot(row: WorkItem) -> engine.Item:
    return engine.Item(
        id=row.pk,
        channel_kind=row.channel_kind,
        enqueued_at=row.enqueued_at,
        priority=row.priority,
        vip=row.vip,
        required_skills=dict(row.required_skills or {}),
        language=row.language,
        home_team_id=row.home_team_id,
        last_agent_id=row.last_agent_id,
        step_index=row.step_index,
        step_entered_at=row.step_entered_at,
        opt_out_of_team=row.opt_out_of_team,
        promised_at=row.promised_at,
        declined_by=frozenset(row.declined_by or ()),
    )


def _name(display_name: str, first: str, last: str, username: str) -> str:
    return display_name or f"{first} {last}".strip() or username


def load_agents(
    *, team_ids: Iterable[int] | None, extra_ids: Iterable[int | None] = (), user_ids=None
) -> dict[int, engine.Agent]:
    """Online, active agents of `team_ids` (every team when None) plus `extra_ids`, with their
    teams and open load per channel kind. Three queries."""
    profiles = AgentProfile.objects.filter(user__is_active=True).exclude(presence=Presence.OFFLINE)
    extra = [i for i in extra_ids if i is not None]
    if user_ids is not None:
        profiles = profiles.filter(user_id__in=list(user_ids))
    elif team_ids is not None:
        profiles = profiles.filter(Q(user__teams__in=list(team_ids)) | Q(user_id__in=extra))
    rows = list(profiles.values_list(*AGENT_COLUMNS).distinct())
    ids = [row[0] for row in rows]
    if not ids:
        return {}
    memberships = _memberships(ids)
    loads: dict[int, dict[str, int]] = {}
    for assignee_id, kind, count in (
        Conversation.objects.filter(assignee_id__in=ids, status=Status.OPEN)
        .values("assignee_id", "channel_kind")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "channel_kind", "n")
    ):
        loads.setdefault(assignee_id, {})[kind] = count
    return {row[0]: _agent(row, memberships, loads.get(row[0], {})) for row in rows}


AGENT_COLUMNS = (
    "user_id",
    "presence",
    "languages",
    "skills",
    "capacity",
    "last_assigned_at",
    "wrap_up_until",
    "user__display_name",
    "user__first_name",
    "user__last_name",
    "user__username",
)


def _memberships(user_ids: list[int]) -> dict[int, set[int]]:
    memberships: dict[int, set[int]] = {}
    if not user_ids:
        return memberships
    for user_id, team_id in Membership.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "team_id"
    ):
        memberships.setdefault(user_id, set()).add(team_id)
    return memberships


def _agent(
    row: tuple[Any, ...], memberships: dict[int, set[int]], load: dict[str, int]
) -> engine.Agent:
    (
        user_id,
        presence,
        languages,
        skills,
        capacity,
        last_assigned_at,
        wrap_up_until,
        display_name,
        first,
        last,
        username,
    ) = row
    return engine.Agent(
        id=user_id,
        name=_name(display_name, first, last, username),
        presence=presence,
        languages=tuple(languages or ()),
        skills={str(k): int(v) for k, v in (skills or {}).items()},
        capacity={**default_capacity(), **{k: int(v) for k, v in (capacity or {}).items()}},
        load=load,
        last_assigned_at=last_assigned_at,
        wrap_up_until=wrap_up_until,
        team_ids=frozenset(memberships.get(user_id, set())),
    )


def surging_team_ids(team_ids: Iterable[int] | None = None) -> frozenset[int]:
    episodes = SurgeEpisode.objects.filter(ended_at__isnull=True)
    if team_ids is not None:
        episodes = episodes.filter(team_id__in=list(team_ids))
    return frozenset(episodes.values_list("team_id", flat=True))


def _reaches_every_team(item: engine.Item, policy: engine.Policy) -> bool:
    return any(
        step.kind == engine.NATIONAL_POOL
        or (step.kind == engine.OVERFLOW_TEAMS and not step.target_team_ids)
        for step in engine.steps_for(item, policy)
    )


def load_context(item: engine.Item, policy: engine.Policy, now: datetime) -> engine.Context:
    """Everything the engine needs to place this item at `now`, in a bounded number of queries
    (about seven): calendars and surge state of the teams the policy reaches, their online
    agents (and the last agent), and those agents' load."""
    every, reached = context_teams(item, policy)
    calendars = cached_calendars(team_ids_all() if reached is None else reached, now=now)
    fallbacks = {c.fallback_team_id for c in calendars.values() if c.fallback_team_id}
    if missing := fallbacks - set(calendars):
        calendars.update(cached_calendars(missing, now=now))
    agents = load_agents(team_ids=None if every else set(calendars), extra_ids=[item.last_agent_id])
    return engine.Context(
        now=now,
        calendars=calendars,
        agents=agents,
        surging=surging_team_ids(None if every else set(calendars)),
    )


# --- Bounded loading for the routing hot path -------------------------------------------------

# Candidates loaded per item-driven decision: the best this many agents who may take the item,
# in the engine's own order. Enough for MAX_CLAIM_TRIES claims (routing/actions.py).
CANDIDATE_LIMIT = 20


def context_teams(item: engine.Item, policy: engine.Policy) -> tuple[bool, set[int] | None]:
    """(whether the policy reaches every team, the teams it reaches or None for every team)."""
    if _reaches_every_team(item, policy):
        return True, None
    team_ids = {item.home_team_id} if item.home_team_id else set()
    for step in engine.steps_for(item, policy):
        team_ids |= set(step.target_team_ids)
    return False, team_ids


def team_rosters(
    team_ids: Iterable[int] | None,
) -> dict[int, tuple[tuple[tuple[str, ...], dict[str, int]], ...]]:
    """Per team, the distinct (languages, skills) of its online, active members: what the
    engine needs to tell whether a team is saturated, in one query whose rows grow with the
    number of distinct profiles per team, not with the number of agents."""
    rows = Membership.objects.filter(user__is_active=True, user__agent__isnull=False).exclude(
        user__agent__presence=Presence.OFFLINE
    )
    if team_ids is not None:
        rows = rows.filter(team_id__in=sorted(team_ids))
    rosters: dict[int, list[tuple[tuple[str, ...], dict[str, int]]]] = {}
    for team_id, languages, skills in rows.values_list(
        "team_id", "user__agent__languages", "user__agent__skills"
    ).distinct():
        rosters.setdefault(team_id, []).append(
            (
                tuple(languages or ()),
                {str(k): int(v) for k, v in (skills or {}).items()},
            )
        )
    return {team_id: tuple(profiles) for team_id, profiles in rosters.items()}


def _member_of(team_ids: Iterable[int]) -> Exists:
    return Exists(Membership.objects.filter(user_id=OuterRef("user_id"), team_id__in=team_ids))


def _open_load(kind: str) -> Coalesce:
    """An agent profile's open conversations of one channel kind (a correlated count)."""
    load = (
        Conversation.objects.filter(
            assignee_id=OuterRef("user_id"), status=Status.OPEN, channel_kind=kind
        )
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(load[:1]), 0)


def _capacity(kind: str) -> Coalesce:
    """An agent profile's capacity for one channel kind (the default when not set)."""
    return Coalesce(
        Cast(KT(f"capacity__{kind}"), IntegerField()), int(default_capacity().get(kind, 0))
    )


def candidates(
    item: engine.Item,
    placement: engine.Placement,
    ctx: engine.Context,
    *,
    loaded_team_ids: set[int] | None,
    limit: int = CANDIDATE_LIMIT,
) -> dict[int, engine.Agent]:
    """The first `limit` agents, in the engine's preference order, among a superset of those
    `engine.agent_can_take` accepts out of the agents full loading would hold (online members
    of `loaded_team_ids` and the item's last agent; every online agent when None), with their
    teams and their load of the item's channel kind (the only load the decision reads). Two
    queries. Exact in SQL: available (not in wrap-up), active, free capacity for the channel
    kind (load counted by a correlated aggregate), in the pool through a team that admits the
    item; a superset: skills (by name) and language (by substring), which the engine checks
    exactly. The order is `engine.preference_key`: occupancy, longest idle, id."""
    if placement.scope == engine.SCOPE_AGENT:
        return {}  # only the sticky agent, loaded with the context
    kind = item.channel_kind
    rows = AgentProfile.objects.filter(user__is_active=True, presence=Presence.AVAILABLE).filter(
        Q(wrap_up_until__isnull=True) | Q(wrap_up_until__lte=ctx.now)
    )
    if placement.scope == engine.SCOPE_TEAMS:
        pool = sorted(team for team in placement.team_ids if ctx.admits(team, item))
        if not pool:
            return {}
        rows = rows.filter(_member_of(pool))
    else:
        # Scope "all": any team but the excluded one that admits the item (a team the context
        # has no calendar for counts as serving), or no team at all.
        blocked = {team for team in ctx.calendars if not ctx.admits(team, item)}
        if placement.excluded_team_id is not None:
            blocked.add(placement.excluded_team_id)
        serving = Exists(
            Membership.objects.filter(user_id=OuterRef("user_id")).exclude(
                team_id__in=sorted(blocked)
            )
        )
        teamless = ~Exists(Membership.objects.filter(user_id=OuterRef("user_id")))
        rows = rows.filter(serving | teamless)
    if loaded_team_ids is not None:
        # The item's last agent is in the context whatever their teams.
        rows = rows.filter(_member_of(sorted(loaded_team_ids)) | Q(user_id=item.last_agent_id))
    if placement.skills:
        rows = rows.filter(skills__has_keys=sorted(placement.skills))
    language = placement.language
    if language and language.isascii() and language.isalnum():
        rows = rows.filter(languages__icontains=language)
    rows = rows.annotate(open_load=_open_load(kind), kind_capacity=_capacity(kind)).filter(
        kind_capacity__gt=F("open_load")
    )
    occupancy = Cast(F("open_load"), FloatField()) / Cast(
        Greatest(F("kind_capacity"), 1), FloatField()
    )
    ordered = rows.order_by(
        occupancy.asc(), F("last_assigned_at").asc(nulls_first=True), "user_id"
    ).values_list(*AGENT_COLUMNS, "open_load")
    found = list(ordered[:limit])
    memberships = _memberships([row[0] for row in found])
    return {
        row[0]: _agent(row[:-1], memberships, {kind: row[-1]} if row[-1] else {}) for row in found
    }


def free_agents(
    kinds: Iterable[str],
    *,
    team_ids: Iterable[int] | None,
    extra_ids: Iterable[int] = (),
    now: datetime,
) -> dict[int, engine.Agent]:
    """Every agent who could take *some* item of a batch (routing/batch.py): available and
    out of wrap-up, active, with free capacity for at least one of `kinds`, member of one of
    `team_ids` (every agent when None) or one of `extra_ids` (the items' last agents) — with
    their teams and their load of each of `kinds`. Two queries, whatever the batch size; the
    rows grow with the agents who have room, not with the queue. The engine checks the rest
    (pool, skills, language) exactly."""
    kinds = sorted(set(kinds))
    if not kinds:
        return {}
    rows = AgentProfile.objects.filter(user__is_active=True, presence=Presence.AVAILABLE).filter(
        Q(wrap_up_until__isnull=True) | Q(wrap_up_until__lte=now)
    )
    if team_ids is not None:
        rows = rows.filter(_member_of(sorted(team_ids)) | Q(user_id__in=sorted(set(extra_ids))))
    room = Q()
    annotations: dict[str, Any] = {}
    for n, kind in enumerate(kinds):
        annotations[f"load_{n}"] = _open_load(kind)
        annotations[f"capacity_{n}"] = _capacity(kind)
        room |= Q(**{f"capacity_{n}__gt": F(f"load_{n}")})
    found = list(
        rows.annotate(**annotations)
        .filter(room)
        .values_list(*AGENT_COLUMNS, *(f"load_{n}" for n in range(len(kinds))))
    )
    memberships = _memberships([row[0] for row in found])
    width = len(AGENT_COLUMNS)
    return {
        row[0]: _agent(
            row[:width],
            memberships,
            {kind: count for kind, count in zip(kinds, row[width:], strict=True) if count},
        )
        for row in found
    }


def trusted_prefix(eligible: tuple[int, ...], cut: frozenset[int] | None) -> tuple[int, ...]:
    """The part of a bounded decision's eligible agents that full loading gives too."""
    if cut is None:
        return eligible
    prefix: list[int] = []
    for agent_id in eligible:
        if agent_id not in cut:
            break
        prefix.append(agent_id)
    return tuple(prefix)


def load_routing_context(
    item: engine.Item, policy: engine.Policy, now: datetime, *, limit: int = CANDIDATE_LIMIT
) -> tuple[engine.Context, frozenset[int] | None]:
    """The hot path's context: like `load_context`, but `agents` holds only the item's last
    agent and the best `limit` candidates for its placement (saturation comes from
    `team_rosters`), so the cost does not grow with the number of agents. Returns (context,
    None when every candidate was loaded, else the ids loaded before the cut at `limit`).
    Without a cut `engine.decide` on it gives exactly what it gives on `load_context`; with a
    cut, the leading eligible agents that are among those ids are exactly the leading
    eligible agents of full loading (see `trusted_prefix`)."""
    every, reached = context_teams(item, policy)
    team_ids = team_ids_all() if reached is None else reached
    calendars = cached_calendars(team_ids, now=now)
    fallbacks = {c.fallback_team_id for c in calendars.values() if c.fallback_team_id}
    if missing := fallbacks - set(calendars):
        calendars.update(cached_calendars(missing, now=now))
    loaded = None if every else set(calendars)
    agents = load_agents(team_ids=None, user_ids=[item.last_agent_id]) if item.last_agent_id else {}
    ctx = engine.Context(
        now=now,
        calendars=calendars,
        agents=agents,
        surging=surging_team_ids(loaded),
        rosters=team_rosters(loaded),
    )
    placement = engine.place(item, policy, ctx)
    found = candidates(item, placement, ctx, loaded_team_ids=loaded, limit=limit)
    ids = list(found)
    ctx.agents = {**found, **agents}  # the last agent as full loading has them
    return ctx, frozenset(ids) if len(ids) >= limit else None


def explain(work_item: WorkItem, now: datetime) -> str:
    """A sentence for supervisors: why the item sits where it is, e.g. "waiting for team Oslo,
    step 2 of 4, overflow in 47 s"."""
    work_item.refresh_from_db()
    if work_item.state == WorkState.ASSIGNED:
        assignee = work_item.assignee
        return f"assigned to {assignee.name if assignee else 'an agent'}"
    if work_item.state != WorkState.QUEUED:
        return f"{work_item.get_state_display().lower()}"
    conversation = work_item.conversation
    inbox_id = conversation.inbox_id if conversation is not None else None
    policy = policy_by_id(work_item.policy_id, inbox_id)
    item = item_snapshot(work_item)
    ctx = load_context(item, policy, now)
    placement = engine.place(item, policy, ctx)
    return engine.explain(item, placement, policy, ctx)


def live_work_item(conversation: Conversation) -> WorkItem | None:
    return (
        WorkItem.objects.filter(
            conversation=conversation, state__in=[WorkState.QUEUED, WorkState.ASSIGNED]
        )
        .order_by("-pk")
        .first()
    )


def team_queue_stats(team_ids: Iterable[int]) -> dict[int, tuple[int, datetime | None]]:
    """Per home team: (items queued, oldest enqueue time), in one aggregate query."""
    stats: dict[int, tuple[int, datetime | None]] = {}
    for team_id, count, oldest in (
        WorkItem.objects.filter(state=WorkState.QUEUED, home_team_id__in=list(team_ids))
        .values("home_team_id")
        .annotate(n=Count("pk"), oldest=Min("enqueued_at"))
        .values_list("home_team_id", "n", "oldest")
    ):
        stats[team_id] = (count, oldest)
    return stats


def present_work_item(work_item: WorkItem) -> dict[str, Any]:
    return {
        "id": work_item.pk,
        "kind": work_item.kind,
        "state": work_item.state,
        "conversation_id": work_item.conversation_id,
        "channel_kind": work_item.channel_kind,
        "priority": work_item.priority,
        "vip": work_item.vip,
        "step": work_item.step_index + 1,
        "step_kind": work_item.step_kind,
        "reason": work_item.reason,
        "enqueued_at": work_item.enqueued_at.isoformat(),
    }


# --- Supervisors: why items wait, and the queue -------------------------------------------


def explain_many(rows: Iterable[WorkItem], now: datetime) -> dict[int, str]:
    """`explain` for many queued items at once, keyed by work item id, in a fixed number of
    queries: one context holding every team's calendar and every online agent (a superset of
    what each item's own context holds, which gives the engine the same answers)."""
    rows = [row for row in rows if row.state == WorkState.QUEUED]
    if not rows:
        return {}
    team_ids = set(Team.objects.values_list("pk", flat=True))
    ctx = engine.Context(
        now=now,
        calendars=calendars_for(team_ids, now=now),
        agents=load_agents(team_ids=None),
        surging=surging_team_ids(None),
    )
    policies: dict[tuple[int | None, int | None], engine.Policy] = {}
    texts = {}
    for row in rows:
        inbox_id = row.conversation.inbox_id if row.conversation_id and row.conversation else None
        key = (row.policy_id, inbox_id)
        if key not in policies:
            policies[key] = policy_by_id(row.policy_id, inbox_id)
        item = item_snapshot(row)
        placement = engine.place(item, policies[key], ctx)
        texts[row.pk] = engine.explain(item, placement, policies[key], ctx)
    return texts


def waits_in_line(work_item_id: int) -> bool:
    """Whether this conversation work item still waits in a queue (not claimed, not closed)."""
    return WorkItem.objects.filter(
        pk=work_item_id, state=WorkState.QUEUED, kind=WorkKind.CONVERSATION
    ).exists()


def waiting_explanations(conversation_ids: Iterable[int], now: datetime) -> dict[int, str]:
    """Why each waiting conversation sits where it is, keyed by conversation id (conversations
    without a queued item are left out)."""
    rows = list(
        WorkItem.objects.filter(
            conversation_id__in=list(conversation_ids), state=WorkState.QUEUED
        ).select_related("conversation")
    )
    texts = explain_many(rows, now)
    return {
        row.conversation_id: texts[row.pk]
        for row in rows
        if row.pk in texts and row.conversation_id is not None
    }


def waiting_explanation(conversation: Conversation, now: datetime) -> str:
    """Why one waiting conversation sits where it is ("" when it is not waiting)."""
    if conversation.assignee_id or conversation.status != Status.OPEN:
        return ""
    row = (
        WorkItem.objects.filter(conversation=conversation, state=WorkState.QUEUED)
        .order_by("-pk")
        .first()
    )
    return explain(row, now) if row is not None else ""


PRIORITY_LABELS = {-1: "Low", 0: "Normal", 1: "High", 2: "Urgent"}


def queue_rows(team_ids: Iterable[int], now: datetime, *, limit: int = 50) -> list[dict[str, Any]]:
    """The waiting items of these home teams in queue order (aging deadline first), each with
    its position in its team's queue, how long it has waited, its priority and why it sits
    there. At most `limit` rows; a fixed number of queries."""
    rows = list(
        WorkItem.objects.filter(
            state=WorkState.QUEUED, home_team_id__in=list(team_ids), conversation__isnull=False
        )
        .select_related("conversation__customer", "home_team")
        .order_by("rank_at", "pk")[:limit]
    )
    texts = explain_many(rows, now)
    positions: dict[int | None, int] = {}
    out = []
    for row in rows:
        positions[row.home_team_id] = positions.get(row.home_team_id, 0) + 1
        waited = max(int((now - row.enqueued_at).total_seconds()), 0)
        out.append(
            {
                "work_item": row,
                "conversation": row.conversation,
                "team": row.home_team,
                "position": positions[row.home_team_id],
                "waiting_seconds": waited,
                "waiting": format_wait(waited),
                "priority": PRIORITY_LABELS.get(row.priority, str(row.priority))
                + (", VIP" if row.vip else ""),
                "explanation": texts.get(row.pk, ""),
            }
        )
    return out


def queue_length(team_ids: Iterable[int]) -> int:
    return WorkItem.objects.filter(
        state=WorkState.QUEUED, home_team_id__in=list(team_ids), conversation__isnull=False
    ).count()


def format_wait(seconds: int) -> str:
    """'45 s', '3 min 12 s', '2 h 5 min'."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --- Transfer targets ---------------------------------------------------------------------


def known_skills() -> list[str]:
    """Every skill an active agent has or a policy requires, sorted (the skill queues)."""
    skills: set[str] = set()
    for values in AgentProfile.objects.filter(user__is_active=True).values_list(
        "skills", flat=True
    ):
        skills.update(str(k) for k in (values or {}))
    for values in RoutingPolicy.objects.values_list("required_skills", flat=True):
        skills.update(str(k) for k in (values or {}))
    return sorted(skills)


# --- Access helpers (callbacks, appointments) -----------------------------------------------


# --- The supervisors' wallboard (desk/wallboard.py composes these) --------------------------


def waiting_by_team_and_kind(
    team_ids: Iterable[int],
) -> dict[tuple[int, str], tuple[int, datetime | None]]:
    """Per (home team, channel kind): (conversations waiting in line, oldest enqueue time), in
    one aggregate query over the work_item_team_queue index. The same items the queue page
    counts (queued conversation work)."""
    stats: dict[tuple[int, str], tuple[int, datetime | None]] = {}
    for team_id, kind, count, oldest in (
        WorkItem.objects.filter(
            state=WorkState.QUEUED, home_team_id__in=list(team_ids), conversation__isnull=False
        )
        .order_by()
        .values("home_team_id", "channel_kind")
        .annotate(n=Count("pk"), oldest=Min("enqueued_at"))
        .values_list("home_team_id", "channel_kind", "n", "oldest")
    ):
        stats[(team_id, kind)] = (count, oldest)
    return stats


def open_surges(team_ids: Iterable[int]) -> list[SurgeEpisode]:
    """The surge episodes still open for these teams (at most one per team), oldest first."""
    return list(
        SurgeEpisode.objects.filter(ended_at__isnull=True, team_id__in=list(team_ids)).order_by(
            "started_at", "pk"
        )
    )


def team_agent_states(team_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Per team: its active members with an agent profile (offline ones too), each with their
    presence, since when, their open conversations per channel kind and their capacity per
    kind. Three queries whatever the team sizes: memberships, profiles, open loads."""
    team_ids = list(team_ids)
    members: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    for team_id, user_id in (
        Membership.objects.filter(team_id__in=team_ids, user__is_active=True)
        .order_by()
        .values_list("team_id", "user_id")
    ):
        members[team_id].append(user_id)
    user_ids = sorted({uid for uids in members.values() for uid in uids})
    if not user_ids:
        return {team_id: [] for team_id in team_ids}
    profiles = {
        row[0]: row
        for row in AgentProfile.objects.filter(user_id__in=user_ids).values_list(
            "user_id",
            "presence",
            "presence_changed_at",
            "capacity",
            "user__display_name",
            "user__first_name",
            "user__last_name",
            "user__username",
        )
    }
    loads: dict[int, dict[str, int]] = {}
    for assignee_id, kind, count in (
        Conversation.objects.filter(assignee_id__in=list(profiles), status=Status.OPEN)
        .order_by()
        .values("assignee_id", "channel_kind")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "channel_kind", "n")
    ):
        loads.setdefault(assignee_id, {})[kind] = count
    agents: dict[int, dict[str, Any]] = {}
    for user_id, row in profiles.items():
        _uid, presence, since, capacity, display_name, first, last, username = row
        agents[user_id] = {
            "id": user_id,
            "name": _name(display_name, first, last, username),
            "presence": presence,
            "since": since,
            "load": loads.get(user_id, {}),
            "capacity": {
                **default_capacity(),
                **{str(k): int(v) for k, v in (capacity or {}).items()},
            },
        }
    return {
        team_id: sorted(
            (agents[uid] for uid in uids if uid in agents),
            key=lambda agent: (str(agent["name"]).casefold(), agent["id"]),
        )
        for team_id, uids in members.items()
    }
