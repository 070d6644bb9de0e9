"""Surges: when a team's queue passes its thresholds, the team counts as saturated so its waiting
work overflows at once, and supervisors are told (routing.surge); it ends when the queue falls
back under SURGE_HYSTERESIS of the thresholds. SurgeEpisode rows are the record. Run by the
periodic tick (routing/tick.py). When the team's region has an active outage, the event names
it as the surge's `cause` (proactive: customers of an outage call in waves).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    send_event_on_commit,
    team_group,
)
from teamline.proactive.queries import active_outages_in
from teamline.teams.models import Team

from .models import SurgeEpisode, WorkItem, WorkState
from .queries import team_queue_stats

# A surge ends when the queue falls below this share of its thresholds (no flapping).
SURGE_HYSTERESIS = 0.8


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


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
            "cause": _cause(team),
            "at": now.isoformat(),
        },
    )


def _cause(team: Team) -> dict[str, object] | None:
    """What the surge is likely about: an active outage in the team's region (the newest),
    or None."""
    outages = active_outages_in(team.region)
    if not outages:
        return None
    outage = outages[-1]
    return {"outage": {"id": outage.id, "title": outage.title, "regions": list(outage.regions)}}


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
