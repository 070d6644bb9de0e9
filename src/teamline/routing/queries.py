"""Reads of routing state, and the loaders that turn database rows into the engine's plain data.

Every loader costs a fixed number of queries, whatever the queue length: policies by inbox,
calendars by team, online agents of the teams a policy reaches, their load in one aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q

from teamline.accounts.models import AgentProfile, Presence, default_capacity
from teamline.conversations.models import Conversation, Status
from teamline.teams.hours import calendars_for
from teamline.teams.models import Team

from . import engine
from .models import (
    ConversationParticipant,
    CustomerRoutingPreference,
    RoutingPolicy,
    ServiceLevelTarget,
    SurgeEpisode,
    WorkItem,
    WorkState,
)

Targets = dict[tuple[str, int], tuple[int, int]]


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


def policy_for_inbox(inbox_id: int | None) -> tuple[engine.Policy, int | None]:
    """The inbox's policy, else the organisation's default policy, else the built-in default.
    Returns (policy, policy row id or None)."""
    rows = list(
        RoutingPolicy.objects.filter(Q(inbox_id=inbox_id) | Q(inbox__isnull=True))
        .prefetch_related("steps__target_teams")
        .order_by("pk")
    )
    row = next((r for r in rows if r.inbox_id == inbox_id and inbox_id is not None), None)
    row = row or next((r for r in rows if r.inbox_id is None), None)
    return policy_spec(row), (row.pk if row else None)


def policy_by_id(policy_id: int | None, inbox_id: int | None) -> engine.Policy:
    if policy_id is not None:
        row = (
            RoutingPolicy.objects.filter(pk=policy_id)
            .prefetch_related("steps__target_teams")
            .first()
        )
        if row is not None:
            return policy_spec(row)
    return policy_for_inbox(inbox_id)[0]


def service_level_targets() -> Targets:
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
    rows = list(
        profiles.values_list(
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
        ).distinct()
    )
    ids = [row[0] for row in rows]
    if not ids:
        return {}
    memberships: dict[int, set[int]] = {}
    for user_id, team_id in Team.members.through.objects.filter(user_id__in=ids).values_list(
        "user_id", "team_id"
    ):
        memberships.setdefault(user_id, set()).add(team_id)
    loads: dict[int, dict[str, int]] = {}
    for assignee_id, kind, count in (
        Conversation.objects.filter(assignee_id__in=ids, status=Status.OPEN)
        .values("assignee_id", "channel_kind")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "channel_kind", "n")
    ):
        loads.setdefault(assignee_id, {})[kind] = count
    agents = {}
    for (
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
    ) in rows:
        agents[user_id] = engine.Agent(
            id=user_id,
            name=_name(display_name, first, last, username),
            presence=presence,
            languages=tuple(languages or ()),
            skills={str(k): int(v) for k, v in (skills or {}).items()},
            capacity={**default_capacity(), **{k: int(v) for k, v in (capacity or {}).items()}},
            load=loads.get(user_id, {}),
            last_assigned_at=last_assigned_at,
            wrap_up_until=wrap_up_until,
            team_ids=frozenset(memberships.get(user_id, set())),
        )
    return agents


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
    every = _reaches_every_team(item, policy)
    if every:
        team_ids = set(Team.objects.values_list("pk", flat=True))
    else:
        team_ids = {item.home_team_id} if item.home_team_id else set()
        for step in engine.steps_for(item, policy):
            team_ids |= set(step.target_team_ids)
    calendars = calendars_for(team_ids, now=now)
    fallbacks = {c.fallback_team_id for c in calendars.values() if c.fallback_team_id}
    if missing := fallbacks - set(calendars):
        calendars.update(calendars_for(missing, now=now))
    agents = load_agents(team_ids=None if every else set(calendars), extra_ids=[item.last_agent_id])
    return engine.Context(
        now=now,
        calendars=calendars,
        agents=agents,
        surging=surging_team_ids(None if every else set(calendars)),
    )


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


PRIORITY_LABELS = {0: "Normal", 1: "High", 2: "Urgent"}


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


# --- Participants (experts) and transfer targets ------------------------------------------


def active_participations(user_id: int) -> Any:
    """Ids of the conversations the user takes part in as an expert right now (a subquery)."""
    return ConversationParticipant.objects.filter(user_id=user_id, left_at__isnull=True).values(
        "conversation_id"
    )


def participant_ids(conversation_id: int) -> list[int]:
    return list(
        ConversationParticipant.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )


def participants_of(conversation: Conversation) -> list[ConversationParticipant]:
    """The experts taking part in the conversation now, in the order they joined."""
    return list(
        ConversationParticipant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user", "invited_by")
        .order_by("joined_at", "pk")
    )


def is_participant(user_id: int, conversation_id: int) -> bool:
    return ConversationParticipant.objects.filter(
        user_id=user_id, conversation_id=conversation_id, left_at__isnull=True
    ).exists()


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


def _object_id(value: object, what: str) -> int:
    from teamline.core.errors import NotFound

    try:
        pk = int(str(value))
    except ValueError as exc:
        raise NotFound(f"No such {what}.") from exc
    if pk < 1 or pk > 2**63 - 1:
        raise NotFound(f"No such {what}.")
    return pk


def access_callback(actor: Any, callback_id: object) -> Any:
    """A callback of a conversation in the actor's teams (admins: any); NotFound otherwise."""
    from teamline.core.errors import NotFound
    from teamline.teams.queries import team_ids_for

    from .models import Callback

    pk = _object_id(callback_id, "callback")
    qs = Callback.objects.select_related("conversation", "conversation__team")
    if not actor.is_admin:
        qs = qs.filter(conversation__team_id__in=team_ids_for(actor))
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound("No such callback.")
    return found


def access_appointment(actor: Any, appointment_id: object) -> Any:
    """An appointment with one of the actor's teams (admins: any); NotFound otherwise."""
    from teamline.core.errors import NotFound
    from teamline.teams.queries import team_ids_for

    from .models import Appointment

    pk = _object_id(appointment_id, "appointment")
    qs = Appointment.objects.select_related("team", "agent", "conversation")
    if not actor.is_admin:
        qs = qs.filter(team_id__in=team_ids_for(actor))
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound("No such appointment.")
    return found
