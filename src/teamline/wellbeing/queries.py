"""What is measured about an agent, read from the database (docs/analytics.md, "Wellbeing").

`measurements(agent, now)` gives the four signals with their current value and threshold:
the agent's own page shows exactly these, and the evaluation (actions.evaluate_agent) raises
an alert from exactly these. Each read is bounded (recent rows only, by index).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet

from teamline.accounts.models import Presence, PresenceSpan, User
from teamline.analytics.models import Contact
from teamline.teams.models import Team

from .models import (
    AgentWellbeing,
    ConversationMood,
    Signal,
    TypingMinute,
    WellbeingAlert,
    WellbeingSettings,
)

WORKING = (Presence.AVAILABLE, Presence.BUSY, Presence.WRAP_UP)
RESTING = (Presence.AWAY, Presence.OFFLINE)
BREAK_LOOKBACK = timedelta(hours=24)
NORM_WINDOW = timedelta(days=30)
NORM_MIN_CONTACTS = 10
NORM_MAX_CONTACTS = 200
TYPING_WINDOW_MINUTES = 10
TYPING_MIN_MINUTES = 5
TYPING_MIN_KEYS = 20
RUN_LOOKBACK = 50
TYPING_RETENTION = timedelta(hours=24)
RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Measure:
    signal: str
    value: float | None  # None: not enough data (or not measured: typing without opt-in)
    threshold: float
    over: bool


def settings_for(agent: User) -> WellbeingSettings:
    """The thresholds of the agent's first team (defaults when it has none or no row)."""
    team = (
        Team.objects.filter(members=agent)
        .order_by("pk")
        .select_related("wellbeing_settings")
        .first()
    )
    if team is not None:
        try:
            return team.wellbeing_settings
        except WellbeingSettings.DoesNotExist:
            return WellbeingSettings(team=team)
    return WellbeingSettings()


def team_settings(team: Team) -> WellbeingSettings:
    return WellbeingSettings.objects.filter(team=team).first() or WellbeingSettings(team=team)


def typing_opted_in(agent: User) -> bool:
    return AgentWellbeing.objects.filter(user=agent, typing_opt_in=True).exists()


def last_alert(agent_id: int, signal: str) -> WellbeingAlert | None:
    return (
        WellbeingAlert.objects.filter(agent_id=agent_id, signal=signal)
        .order_by("-created_at")
        .first()
    )


def negative_run(agent_id: int, since: datetime | None) -> int:
    """How many of the agent's latest handled conversations (since `since`: the last alert of
    this signal) in a row had negative customer sentiment."""
    moods = ConversationMood.objects.filter(agent_id=agent_id)
    if since is not None:
        moods = moods.filter(resolved_at__gt=since)
    run = 0
    for negative in moods.order_by("-resolved_at", "-pk").values_list("negative", flat=True)[
        :RUN_LOOKBACK
    ]:
        if not negative:
            break
        run += 1
    return run


def _stretch_start(
    spans: list[tuple[str, datetime, datetime | None]], now: datetime, min_break: timedelta
) -> datetime | None:
    """When the current stretch of work began, from one agent's spans (oldest first)."""
    if not spans or spans[-1][2] is not None or spans[-1][0] not in WORKING:
        return None
    start: datetime | None = None
    for presence, started, ended in spans:
        if presence in RESTING:
            if ended is not None and ended - started >= min_break:
                start = ended
        elif start is None:
            start = max(started, now - BREAK_LOOKBACK)
    return start


def _recent_spans(agent_ids: list[int], now: datetime) -> QuerySet[PresenceSpan]:
    return (
        PresenceSpan.objects.filter(user_id__in=agent_ids)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=now - BREAK_LOOKBACK))
        .order_by("user_id", "started_at")
    )


def work_started(agent_id: int, now: datetime, min_break: timedelta) -> datetime | None:
    """When the agent's current stretch of work began: the end of their last break (away or
    offline for at least `min_break`) in the last 24 hours, else the start of the earliest
    working span in them. None when the agent is not working now."""
    spans = list(_recent_spans([agent_id], now).values_list("presence", "started_at", "ended_at"))
    return _stretch_start(spans, now, min_break)


def work_started_many(
    agent_ids: list[int], now: datetime, min_breaks: dict[int, timedelta]
) -> dict[int, datetime | None]:
    """work_started for many agents in one query (the periodic sweep)."""
    spans: dict[int, list[tuple[str, datetime, datetime | None]]] = {a: [] for a in agent_ids}
    rows = _recent_spans(agent_ids, now).values_list(
        "user_id", "presence", "started_at", "ended_at"
    )
    for user_id, presence, started, ended in rows:
        spans[user_id].append((presence, started, ended))
    return {a: _stretch_start(spans[a], now, min_breaks[a]) for a in agent_ids}


def settings_by_agent(agent_ids: list[int]) -> dict[int, WellbeingSettings]:
    """settings_for for many agents in two queries (the periodic sweep)."""
    first: dict[int, int] = {}
    memberships = (
        Team.members.through.objects.filter(user_id__in=agent_ids)
        .order_by("team_id")
        .values_list("user_id", "team_id")
    )
    for user_id, team_id in memberships:
        first.setdefault(user_id, team_id)
    rows = {r.team_id: r for r in WellbeingSettings.objects.filter(team_id__in=set(first.values()))}
    return {
        a: rows.get(first[a]) or WellbeingSettings(team_id=first[a])
        if a in first
        else WellbeingSettings()
        for a in agent_ids
    }


def last_alerts(agent_ids: list[int], signal: str) -> dict[int, datetime]:
    """Each agent's latest alert of `signal` (one query)."""
    return dict(
        WellbeingAlert.objects.filter(agent_id__in=agent_ids, signal=signal)
        .values("agent_id")
        .annotate(latest=Max("created_at"))
        .values_list("agent_id", "latest")
    )


def _handle_seconds(row: tuple[Any, Any, int]) -> float:
    answered, handled, wrap_up = row
    return (handled - answered).total_seconds() + wrap_up


def handle_ratio(agent_id: int, now: datetime) -> float | None:
    """The agent's latest handle time ÷ their own median over the 30 days before it (at least
    ten contacts); None without enough history."""
    rows = list(
        Contact.objects.filter(
            agent_id=agent_id,
            answered_at__isnull=False,
            handled_at__isnull=False,
            handled_at__gt=now - NORM_WINDOW,
            handled_at__lte=now,
        )
        .order_by("-handled_at")
        .values_list("answered_at", "handled_at", "wrap_up_seconds")[: NORM_MAX_CONTACTS + 1]
    )
    if len(rows) < NORM_MIN_CONTACTS + 1:
        return None
    latest = _handle_seconds(rows[0])
    norm = statistics.median(_handle_seconds(row) for row in rows[1:])
    if norm <= 0:
        return None
    return round(latest / norm, 2)


def typing_strain(agent_id: int, now: datetime) -> float | None:
    """The mean share of corrections over the agent's last ten typed minutes (minutes with at
    least 20 keys; at least five of them), else None."""
    ratios = list(
        TypingMinute.objects.filter(
            agent_id=agent_id,
            minute__gt=now - timedelta(minutes=TYPING_WINDOW_MINUTES),
            keys__gte=TYPING_MIN_KEYS,
        ).values_list("corrections_ratio", flat=True)
    )
    if len(ratios) < TYPING_MIN_MINUTES:
        return None
    return round(sum(ratios) / len(ratios), 3)


def measurements(agent: User, now: datetime, *, signals: set[str] | None = None) -> list[Measure]:
    """The signals (all four, or those in `signals`) as they stand now, against the agent's
    team's thresholds."""
    rules = settings_for(agent)
    wanted = set(Signal.values) if signals is None else signals
    found = []
    if Signal.NEGATIVE_RUN in wanted:
        since = last_alert(agent.pk, Signal.NEGATIVE_RUN)
        run = negative_run(agent.pk, since.created_at if since else None)
        found.append(
            Measure(Signal.NEGATIVE_RUN, run, rules.negative_run, run >= rules.negative_run)
        )
    if Signal.NO_BREAK in wanted:
        started = work_started(agent.pk, now, timedelta(minutes=rules.min_break_minutes))
        minutes = None if started is None else round((now - started).total_seconds() / 60, 1)
        over = minutes is not None and minutes >= rules.break_minutes
        found.append(Measure(Signal.NO_BREAK, minutes, rules.break_minutes, over))
    if Signal.LONG_HANDLE in wanted:
        ratio = handle_ratio(agent.pk, now)
        over = ratio is not None and ratio >= rules.handle_factor
        found.append(Measure(Signal.LONG_HANDLE, ratio, rules.handle_factor, over))
    if Signal.TYPING_STRAIN in wanted:
        strain = typing_strain(agent.pk, now) if typing_opted_in(agent) else None
        over = strain is not None and strain >= rules.typing_corrections
        found.append(Measure(Signal.TYPING_STRAIN, strain, rules.typing_corrections, over))
    return found


def open_suggestion(agent: User) -> WellbeingAlert | None:
    """The agent's latest suggestion they have not dismissed (today's, at most a day old)."""
    return (
        WellbeingAlert.objects.filter(agent=agent, dismissed_at__isnull=True)
        .order_by("-created_at")
        .first()
    )


def supervisor_ids(agent_id: int) -> list[int]:
    """The supervisors of the agent's teams: who an alert about this agent goes to."""
    return list(
        User.objects.filter(supervised_teams__members__pk=agent_id, is_active=True)
        .values_list("pk", flat=True)
        .distinct()
    )


def alerts_for(actor: User) -> QuerySet[WellbeingAlert]:
    """The alerts a supervisor may see: about members of the teams they supervise (every
    agent for admins); nothing for anyone else."""
    alerts = WellbeingAlert.objects.select_related("agent", "acknowledged_by")
    if actor.is_admin:
        return alerts
    if not actor.is_active:
        return alerts.none()
    members = Team.objects.filter(supervisors=actor).values("members")
    return alerts.filter(agent_id__in=members)


def present_alert(alert: WellbeingAlert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "signal": alert.signal,
        "value": alert.value,
        "threshold": alert.threshold,
        "created_at": alert.created_at.isoformat(),
        "dismissed": alert.dismissed_at is not None,
        "acknowledged": alert.acknowledged_at is not None,
    }
