"""A team's contact forecast and the agents it needs, per 15-minute interval of a local day.

History comes from the 15-minute fact table (offered contacts, handle and wrap-up time,
abandonment per queue), the method from :mod:`teamline.analytics.forecast`, the agents from
the Erlang functions in :mod:`teamline.analytics.erlang`:

* every queue (channel kind: chat, email, voice) is a queue of *slots*: a voice agent is one
  slot, a chat or email agent as many as their capacity for that kind (the team's median);
* slots needed = the fewest meeting the queue's service-level target (routing's target for
  the kind at normal priority, passed in by the caller) by **Erlang A** where history shows
  abandonment on voice (patience estimated as waiting time ÷ abandoned contacts, the
  exponential-patience maximum-likelihood estimate) and **Erlang C** otherwise;
* agents needed = slots ÷ slots per agent, rounded up, summed over the queues (an upper bound
  where one agent serves several kinds at once);
* agents available = the team's members staffed (available, busy or in wrap-up) in the
  interval, on average, from their presence history; unknown (None) for the future.

docs/analytics.md ("Forecast and staffing") explains this for users.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum
from django.utils import timezone

from teamline.accounts.models import ChannelKind, Presence, PresenceSpan, default_capacity
from teamline.teams import hours
from teamline.teams.models import Team

from . import erlang
from .forecast import SLOTS, Day, Forecast, NotEnoughHistory, forecast_day
from .models import ContactFact

INTERVAL = timedelta(minutes=15)
INTERVAL_SECONDS = 900.0
HISTORY_DAYS = 7 * 10
HOLIDAY_LOOKBACK_DAYS = 400
# Handle times assumed while a queue has no handled contact in its history.
DEFAULT_AHT: dict[str, float] = {"voice": 300.0, "chat": 600.0, "email": 480.0}
# The contract's default thresholds; routing's ServiceLevelTarget rows override them.
DEFAULT_TARGET: dict[str, int] = {"voice": 20, "chat": 60, "email": 3600}
DEFAULT_PERCENT = 80
STAFFED = (Presence.AVAILABLE, Presence.BUSY, Presence.WRAP_UP)


@dataclass(frozen=True)
class QueueHistory:
    days: list[Day]
    aht_seconds: float
    patience_seconds: float | None


def _slot_of(instant: datetime, zone: ZoneInfo) -> tuple[date, int]:
    local = instant.astimezone(zone)
    return local.date(), local.hour * 4 + local.minute // 15


def _local_day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end.astimezone(UTC)


def queue_histories(team: Team, before: date) -> dict[str, QueueHistory]:
    """Each queue's daily slot counts over the last HISTORY_DAYS local days before ``before``
    plus the holidays of the year before (one aggregate query over just those days), with its
    handle time and patience (from the same days)."""
    zone = ZoneInfo(team.timezone)
    calendar = hours.calendar_for(team, now=timezone.now())
    first = before - timedelta(days=HOLIDAY_LOOKBACK_DAYS)
    recent = before - timedelta(days=HISTORY_DAYS)
    holidays = {
        day
        for day in (first + timedelta(days=n) for n in range((before - first).days))
        if hours.is_holiday(calendar, day)
    }
    # The recent weeks whole, and of the year before only its holidays.
    recent_start, _ = _local_day_range(recent, zone)
    end, _ = _local_day_range(before, zone)
    window = Q(interval_start__gte=recent_start, interval_start__lt=end)
    for day in sorted(d for d in holidays if d < recent):
        day_start, day_end = _local_day_range(day, zone)
        window |= Q(interval_start__gte=day_start, interval_start__lt=day_end)
    rows = (
        ContactFact.objects.filter(window, team_id=team.pk)
        .values("interval_start", "queue")
        .annotate(
            offered=Sum("offered"),
            handled=Sum("handled"),
            handle=Sum("handle_sum"),
            wrap_up=Sum("wrap_up_sum"),
            abandoned=Sum("abandoned"),
            abandon_wait=Sum("abandon_wait_sum"),
            answered=Sum("answered"),
            wait=Sum("wait_sum"),
        )
        .order_by()
    )
    counts: dict[str, dict[date, list[float]]] = defaultdict(dict)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        day, slot = _slot_of(row["interval_start"], zone)
        per_day = counts[row["queue"]]
        per_day.setdefault(day, [0.0] * SLOTS)[slot] += row["offered"] or 0
        for name in ("handled", "handle", "wrap_up", "abandoned", "abandon_wait", "wait"):
            totals[row["queue"]][name] += row[name] or 0
    result = {}
    for queue, by_day in counts.items():
        days: list[Day] = []
        for n in range((before - first).days):
            day = first + timedelta(days=n)
            holiday = day in holidays
            if day < recent and not holiday:
                continue  # older ordinary days are not read by any method
            days.append(Day(day=day, counts=tuple(by_day.get(day, [0.0] * SLOTS)), holiday=holiday))
        t = totals[queue]
        aht = (t["handle"] + t["wrap_up"]) / t["handled"] if t["handled"] else None
        waited = t["wait"] + t["abandon_wait"]
        patience = waited / t["abandoned"] if t["abandoned"] and waited else None
        result[queue] = QueueHistory(
            days=days,
            aht_seconds=aht or DEFAULT_AHT.get(queue, 600.0),
            patience_seconds=patience,
        )
    return result


def forecasts(team: Team, day: date) -> tuple[bool, dict[str, tuple[Forecast, QueueHistory]]]:
    """(is ``day`` a holiday, each queue's forecast with the history behind it)."""
    holiday = hours.is_holiday(hours.calendar_for(team, now=timezone.now()), day)
    result = {}
    for queue, history in sorted(queue_histories(team, day).items()):
        try:
            result[queue] = (forecast_day(history.days, day, holiday=holiday), history)
        except NotEnoughHistory:
            continue
    return holiday, result


def slot_starts(team: Team, day: date) -> list[datetime | None]:
    """The first instant of each local clock slot of ``day`` (None where DST skips it)."""
    zone = ZoneInfo(team.timezone)
    starts: list[datetime | None] = []
    for slot in range(SLOTS):
        local = datetime(day.year, day.month, day.day, slot // 4, slot % 4 * 15, tzinfo=zone)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(
            tzinfo=None
        ):
            starts.append(None)  # a wall time the clock jumps over
        else:
            starts.append(local.astimezone(UTC))
    return starts


# (channel kind, priority) → (percent, seconds): routing's service-level targets, which the
# callers pass in (routing.queries.service_level_target_table; analytics sits below routing).
Targets = Mapping[tuple[str, int], tuple[int, int]]


def service_level_target(queue: str, targets: Targets) -> tuple[float, float]:
    """(threshold seconds, fraction) for a queue at normal priority."""
    found = targets.get((queue, 0))
    if found is not None:
        percent, seconds = found
        return float(seconds), percent / 100
    return float(DEFAULT_TARGET.get(queue, 3600)), DEFAULT_PERCENT / 100


def slots_per_agent(team: Team, queue: str) -> int:
    """The team's median capacity for the kind (voice: 1)."""
    if queue == ChannelKind.VOICE:
        return 1
    capacities = [
        int((capacity or {}).get(queue, default_capacity().get(queue, 1)))
        for capacity in team.members.filter(agent__isnull=False).values_list(
            "agent__capacity", flat=True
        )
    ]
    return (
        max(1, round(statistics.median(capacities)))
        if capacities
        else default_capacity().get(queue, 1)
    )


def slots_needed(
    contacts: float,
    aht: float,
    patience: float | None,
    queue: str,
    target: tuple[float, float],
) -> tuple[int, str]:
    """Fewest slots meeting ``target`` (threshold seconds, fraction) for ``contacts`` offered
    in 15 minutes, and the model used."""
    if contacts <= 0:
        return 0, "none"
    threshold, fraction = target
    load = erlang.offered_load(contacts, INTERVAL_SECONDS, aht)
    if queue == ChannelKind.VOICE and patience:
        return (
            erlang.erlang_a_agents_for_service_level(load, aht, patience, threshold, fraction),
            "erlang_a",
        )
    return erlang.agents_for_service_level(load, aht, threshold, fraction), "erlang_c"


def staffed_agents(team: Team, starts: list[datetime | None], now: datetime) -> list[float | None]:
    """Average members staffed in each interval (None for intervals not yet begun)."""
    known = [s for s in starts if s is not None and s < now]
    result: list[float | None] = [None] * len(starts)
    if not known:
        return result
    first, last = min(known), max(known) + INTERVAL
    spans = PresenceSpan.objects.filter(
        user__in=team.members.all(), presence__in=STAFFED, started_at__lt=last
    ).exclude(ended_at__lte=first)
    staffed = [(s.started_at, s.ended_at or now) for s in spans]
    for i, start in enumerate(starts):
        if start is None or start >= now:
            continue
        end = min(start + INTERVAL, now)
        seconds = sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in staffed)
        result[i] = round(seconds / (end - start).total_seconds(), 2)
    return result


def _method(result: Forecast) -> dict[str, Any]:
    """The method a forecast used and its backtest's errors."""
    chosen = result.backtest.chosen
    return {
        "method": result.backtest.method,
        "backtest": {
            "days": chosen.days,
            "mape": _rounded(chosen.mape, 4),
            "wape": _rounded(chosen.wape, 4),
            "holidays": {
                "days": result.backtest.holidays.days,
                "wape": _rounded(result.backtest.holidays.wape, 4),
            },
        },
    }


def forecast_report(team: Team, day: date) -> dict[str, Any]:
    holiday, per_queue = forecasts(team, day)
    starts = slot_starts(team, day)
    queues = {
        queue: {
            **_method(result),
            "intervals": [
                {"start": start.isoformat(), "contacts": round(count, 2)}
                for start, count in zip(starts, result.counts, strict=True)
                if start is not None
            ],
        }
        for queue, (result, _history) in per_queue.items()
    }
    return {"team": team.pk, "date": day.isoformat(), "holiday": holiday, "queues": queues}


def staffing_report(
    team: Team, day: date, *, targets: Targets, now: datetime | None = None
) -> dict[str, Any]:
    now = now or timezone.now()
    holiday, per_queue = forecasts(team, day)
    starts = slot_starts(team, day)
    available = staffed_agents(team, starts, now)
    chosen = {q: service_level_target(q, targets) for q in per_queue}
    per_agent = {q: slots_per_agent(team, q) for q in per_queue}
    intervals = []
    for i, start in enumerate(starts):
        if start is None:
            continue
        queues = {}
        needed_total = 0
        staffed = available[i]
        for queue, (result, history) in per_queue.items():
            contacts = result.counts[i]
            slots, model = slots_needed(
                contacts, history.aht_seconds, history.patience_seconds, queue, chosen[queue]
            )
            agents = math.ceil(slots / per_agent[queue])
            needed_total += agents
            queues[queue] = {
                "contacts": round(contacts, 2),
                "aht_seconds": round(history.aht_seconds, 1),
                "slots_needed": slots,
                "agents_needed": agents,
                "model": model,
            }
        intervals.append(
            {
                "start": start.isoformat(),
                "agents_needed": needed_total,
                "agents_available": staffed,
                "gap": None if staffed is None else round(staffed - needed_total, 2),
                "queues": queues,
            }
        )
    return {
        "team": team.pk,
        "date": day.isoformat(),
        "holiday": holiday,
        "targets": {
            q: {"seconds": int(t[0]), "percent": round(t[1] * 100)} for q, t in chosen.items()
        },
        "slots_per_agent": per_agent,
        "methods": {q: _method(result) for q, (result, _h) in per_queue.items()},
        "patience_seconds": {
            q: _rounded(h.patience_seconds, 1) for q, (_f, h) in per_queue.items()
        },
        "intervals": intervals,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
