"""Reads other apps may call: staffing and queueing forecasts, and the KPIs.

Routing, the simulator and the staffing views reach the Erlang formulas through this module
(the app's public read interface); :mod:`teamline.analytics.erlang` documents them. The KPIs
(`kpis`, `team_today`) are read from the 15-minute contact facts (analytics/models.py), never
from the messages; docs/analytics.md defines each figure.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncDate

from teamline.analytics.actions import FCR_WINDOW, interval_of
from teamline.analytics.erlang import (
    ErlangA,
    agents_for_asa,
    agents_for_service_level,
    average_speed_of_answer,
    erlang_a,
    erlang_a_agents_for_service_level,
    erlang_b,
    erlang_c,
    occupancy,
    offered_load,
    service_level,
)
from teamline.analytics.models import FACT_COUNTERS, Contact, ContactFact
from teamline.teams.models import Team

__all__ = [
    "ErlangA",
    "agents_for_asa",
    "agents_for_service_level",
    "average_speed_of_answer",
    "contact_team_ids",
    "erlang_a",
    "erlang_a_agents_for_service_level",
    "erlang_b",
    "erlang_c",
    "kpi_totals",
    "kpis",
    "occupancy",
    "offered_load",
    "service_level",
    "team_today",
]


# --- KPIs from the contact facts (docs/analytics.md) ------------------------------------------

INTERVALS = ("15m", "1h", "1d", "1w", "1mo")
# The longest range one request may ask for, per interval (the API answers 400 beyond).
MAX_RANGE: dict[str, timedelta] = {
    "15m": timedelta(days=31),
    "1h": timedelta(days=92),
    "1d": timedelta(days=400),
    "1w": timedelta(days=800),
    "1mo": timedelta(days=1830),
}
QUARTER = timedelta(minutes=15)
FCR_PENDING = "pending"
FCR_FINAL = "final"


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def bucket_starts(start: datetime, end: datetime, interval: str, zone: ZoneInfo) -> list[datetime]:
    """The UTC starts of the intervals of `interval` in `zone` that begin in [start, end).

    15m and 1h intervals are UTC quarters and the quarters at a whole local hour (every time
    zone's offset is a multiple of 15 minutes), so a day with a DST change has 23 or 25 hours;
    1d, 1w (Monday) and 1mo start at local midnight."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    starts: list[datetime] = []
    if interval in ("15m", "1h"):
        at = _ceil_quarter(start)
        while at < end:
            if interval == "15m" or at.astimezone(zone).minute == 0:
                starts.append(at)
            at += QUARTER
        return starts
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        keep = (
            interval == "1d"
            or (interval == "1w" and day.weekday() == 0)
            or (interval == "1mo" and day.day == 1)
        )
        if keep:
            at = _local_midnight(day, zone)
            if start <= at < end:
                starts.append(at)
        day += timedelta(days=1)
    return starts


def _ceil_quarter(at: datetime) -> datetime:
    floor = interval_of(at)
    return floor if floor == at else floor + QUARTER


def align_range(
    start: datetime, end: datetime, interval: str, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """[start, end) widened to whole intervals: from the start of the interval holding
    `start` to the end of the one holding the last instant before `end`."""
    local = start.astimezone(zone)
    if interval == "15m":
        return interval_of(start), _ceil_quarter(end)
    if interval == "1h":
        first = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        last = (end - timedelta(microseconds=1)).astimezone(zone)
        stop = last.replace(minute=0, second=0, microsecond=0).astimezone(UTC) + timedelta(hours=1)
        return first, stop
    day = local.date()
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    if interval == "1w":
        day -= timedelta(days=day.weekday())
        last_day += timedelta(days=7 - last_day.weekday())
    elif interval == "1mo":
        day = day.replace(day=1)
        last_day = (last_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        last_day += timedelta(days=1)
    return _local_midnight(day, zone), _local_midnight(last_day, zone)


@dataclass
class Figures:
    """Sums of the fact counters over some rows, and the KPIs they give."""

    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FACT_COUNTERS, 0))

    def add(self, row: dict[str, Any]) -> None:
        for name in FACT_COUNTERS:
            self.sums[name] += int(row.get(name) or 0)

    def kpis(self, *, fcr_known: bool, per_agent: bool = False) -> dict[str, Any]:
        s = self.sums
        offered = s["answered"] if per_agent else s["offered"]
        abandoned = 0 if per_agent else s["abandoned"]
        short = 0 if per_agent else s["abandoned_short"]
        nps_total = s["nps_promoters"] + s["nps_passives"] + s["nps_detractors"]
        fcr = None
        if fcr_known and s["resolved"]:
            fcr = (s["resolved"] - s["repeated"]) / s["resolved"]
        return {
            "offered": offered,
            "answered": s["answered"],
            "abandoned": abandoned,
            "abandoned_within_5s": short,
            "answered_within_threshold": s["answered_in_threshold"],
            "service_level": _ratio(s["answered_in_threshold"], offered - short),
            "asa_seconds": _ratio(s["wait_sum"], s["answered"]),
            "avg_time_to_abandon_seconds": _ratio(s["abandon_wait_sum"], abandoned)
            if abandoned
            else None,
            "abandon_rate": _ratio(abandoned, offered),
            "handled": s["handled"],
            "aht_seconds": _ratio(s["handle_sum"] + s["wrap_up_sum"], s["handled"]),
            "wrap_up_seconds": _ratio(s["wrap_up_sum"], s["handled"]),
            "transfers": s["transfers"],
            "first_response_seconds": _ratio(s["first_response_sum"], s["first_response_count"]),
            "resolved": s["resolved"],
            "resolution_seconds": _ratio(s["resolution_sum"], s["resolution_count"]),
            "fcr": fcr,
            "fcr_status": FCR_FINAL if fcr_known else FCR_PENDING,
            "csat": _ratio(s["csat_sum"], s["csat_count"]),
            "csat_responses": s["csat_count"],
            "nps": _ratio(100 * (s["nps_promoters"] - s["nps_detractors"]), nps_total),
            "nps_responses": nps_total,
        }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _fact_rows(
    team_ids: Iterable[int],
    start: datetime,
    end: datetime,
    *,
    queue: str | None = None,
    channel: str | Sequence[str] | None = None,
    agent_id: int | None = None,
    local_days: ZoneInfo | None = None,
    total: bool = False,
) -> Iterable[dict[str, Any]]:
    """The fact sums per 15-minute interval — or, with `local_days`, per local date in that
    zone (a month is then ~31 groups, not ~3,000), or with `total` one row for the whole
    range: one grouped, indexed query. `channel` is one channel or any of several."""
    rows = ContactFact.objects.filter(
        team_id__in=list(team_ids), interval_start__gte=start, interval_start__lt=end
    )
    if queue:
        rows = rows.filter(queue=queue)
    if isinstance(channel, str):
        if channel:
            rows = rows.filter(channel=channel)
    elif channel:
        rows = rows.filter(channel__in=list(channel))
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    sums = {name: Sum(name) for name in FACT_COUNTERS}
    if total:
        return [rows.aggregate(**sums)]
    if local_days is not None:
        by_day = (
            rows.annotate(day=TruncDate("interval_start", tzinfo=local_days))
            .values("day")
            .order_by("day")
            .annotate(**sums)
        )
        return [dict(row) for row in by_day]
    grouped = rows.values("interval_start").order_by("interval_start").annotate(**sums)
    return [dict(row) for row in grouped]


def _bucket_sums(
    team_ids: list[int],
    starts: list[datetime],
    end: datetime,
    *,
    queue: str | None = None,
    channel: str | Sequence[str] | None = None,
    agent_id: int | None = None,
) -> dict[int, dict[str, Any]]:
    """The fact sums of each bucket [starts[i], starts[i + 1] or end), by bucket index: one
    query joining the buckets (a VALUES list) to the teams' fact rows, each bucket read as
    one range of the (team_id, interval_start) index and summed in the database.

    The buckets are local days, weeks or months already turned into UTC bounds (DST
    included), so the database only compares stored values: no time zone conversion and no
    function call per fact row (on SQLite a time zone conversion is a Python call a row)."""
    if not starts or not team_ids:
        return {}
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(ContactFact._meta.db_table)
    bounds = [*starts, end]
    params: list[Any] = []
    for index, begin in enumerate(starts):
        params += [index, adapt(begin), adapt(bounds[index + 1])]
    buckets = ", ".join(["(%s, %s, %s)"] * len(starts))
    filters = [f"f.team_id IN ({', '.join(['%s'] * len(team_ids))})"]
    params += list(team_ids)
    if queue:
        filters.append("f.queue = %s")
        params.append(queue)
    channels = [channel] if isinstance(channel, str) else list(channel or [])
    channels = [name for name in channels if name]
    if channels:
        filters.append(f"f.channel IN ({', '.join(['%s'] * len(channels))})")
        params += channels
    if agent_id is not None:
        filters.append("f.agent_id = %s")
        params.append(agent_id)
    sums = ", ".join(f"SUM(f.{name})" for name in FACT_COUNTERS)
    # Names from the model and FACT_COUNTERS only; every value is a parameter.
    sql = (
        f"WITH buckets (i, s, e) AS (VALUES {buckets}) "  # noqa: S608
        f"SELECT b.i, {sums} FROM buckets b JOIN {table} f "
        "ON f.interval_start >= b.s AND f.interval_start < b.e "
        f"WHERE {' AND '.join(filters)} GROUP BY b.i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            int(row[0]): dict(zip(FACT_COUNTERS, row[1:], strict=True)) for row in cursor.fetchall()
        }


def _teams_zone(team: Team | Sequence[Team]) -> tuple[list[int], ZoneInfo]:
    """The ids of one team or several, and their time zone: several teams are summed only
    when they share one (their days start at the same moment). ValueError otherwise."""
    teams = [team] if isinstance(team, Team) else list(team)
    if not teams:
        raise ValueError("choose at least one team")
    zones = {t.timezone for t in teams}
    if len(zones) > 1:
        raise ValueError("the teams are in different time zones")
    return [t.pk for t in teams], ZoneInfo(teams[0].timezone)


def kpis(
    team: Team | Sequence[Team],
    *,
    start: datetime,
    end: datetime,
    interval: str,
    now: datetime,
    queue: str | None = None,
    channel: str | Sequence[str] | None = None,
    agent_id: int | None = None,
) -> list[dict[str, Any]]:
    """The KPIs of `team` per interval of `interval` in the team's time zone, for the
    intervals starting in [start, end) (widened to whole intervals). Each interval carries
    its local `start` and `end` (ISO 8601 with offset) and the figures of Figures.kpis; FCR is
    pending (None) until 7 days after the interval ended. Filtered by `agent_id`, offered is
    what that agent answered and abandoned is 0 (nobody had those contacts). The current
    interval is live: the facts are written with each transition. Several teams (in one time
    zone) and several channels are summed before the ratios are taken (the Reports page).
    ValueError on a bad interval or range, or teams in different time zones."""
    team_ids, zone = _teams_zone(team)
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    if end <= start:
        raise ValueError("the range must end after it starts")
    if end - start > MAX_RANGE[interval]:
        raise ValueError(f"at most {MAX_RANGE[interval].days} days at interval {interval}")
    start, end = align_range(start, end, interval, zone)
    starts = bucket_starts(start, end, interval, zone)
    figures = [Figures() for _ in starts]
    daily = interval in ("1d", "1w", "1mo")
    if daily and connection.vendor == "sqlite":
        # Days, weeks and months are whole local dates: the database sums per bucket (on
        # SQLite a time zone conversion would be a Python call per fact row).
        buckets = _bucket_sums(
            team_ids, starts, end, queue=queue, channel=channel, agent_id=agent_id
        )
        for index, row in buckets.items():
            figures[index].add(row)
    else:
        # PostgreSQL sums per local date itself (AT TIME ZONE over one index range), measured
        # faster there than the buckets' join (docs/benchmarks.md, "KPIs").
        keys: list[Any] = [at.astimezone(zone).date() for at in starts] if daily else starts
        for row in _fact_rows(
            team_ids,
            start,
            end,
            queue=queue,
            channel=channel,
            agent_id=agent_id,
            local_days=zone if daily else None,
        ):
            index = bisect_right(keys, row["day"] if daily else row["interval_start"]) - 1
            if index >= 0:
                figures[index].add(row)
    out: list[dict[str, Any]] = []
    for index, (begin, sums) in enumerate(zip(starts, figures, strict=True)):
        stop = starts[index + 1] if index + 1 < len(starts) else end
        out.append(
            {
                "start": begin.astimezone(zone).isoformat(),
                "end": stop.astimezone(zone).isoformat(),
                **sums.kpis(fcr_known=stop + FCR_WINDOW <= now, per_agent=agent_id is not None),
            }
        )
    return out


def kpi_totals(
    team: Team | Sequence[Team],
    *,
    start: datetime,
    end: datetime,
    interval: str,
    now: datetime,
    channel: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The same figures as `kpis` for the whole of its (widened) range at once: the sums of
    all its intervals, then the ratios (a mean of the intervals' ratios would weigh a quiet
    hour like a busy one). One aggregate query."""
    team_ids, zone = _teams_zone(team)
    start, end = align_range(start, end, interval, zone)
    total = Figures()
    for row in _fact_rows(team_ids, start, end, channel=channel, total=True):
        total.add(row)
    return {
        "start": start.astimezone(zone).isoformat(),
        "end": end.astimezone(zone).isoformat(),
        **total.kpis(fcr_known=end + FCR_WINDOW <= now),
    }


def contact_team_ids() -> list[int]:
    """The team ids that have contacts (for a rebuild of the facts): one index-only scan."""
    return list(Contact.objects.order_by("team_id").values_list("team_id", flat=True).distinct())


def team_today(team: Team, now: datetime) -> dict[str, Any]:
    """The team's figures since its local midnight, live (for the wallboard): offered,
    answered, abandoned, service level, ASA, AHT and the rest of Figures.kpis, from the fact
    rows of today's quarters (one grouped query). Waiting now is routing's, not here."""
    zone = ZoneInfo(team.timezone)
    midnight = _local_midnight(now.astimezone(zone).date(), zone)
    total = Figures()
    for row in _fact_rows([team.pk], midnight, now + QUARTER):
        total.add(row)
    return {
        "since": midnight.astimezone(zone).isoformat(),
        **total.kpis(fcr_known=False),
    }
