"""Opening hours, holidays and service modes: is a team serving right now, and from when.

All arithmetic happens on a `Calendar` snapshot (plain data, no queries), so routing decisions
and the simulator can evaluate any instant cheaply with an injected clock; `calendar_for` and
`calendars_for` load snapshots from the database. Weekly hours are wall-clock times in the
team's own IANA time zone, so they follow daylight saving time; holidays are local dates, so a
holiday starts at the team's local midnight (a team in Asia/Shanghai and one in Europe/Oslo see
different days at the same instant).

Effective mode at an instant (`mode_at`):
  outside the weekly hours                     → closed
  the supervisor's mode is closed (still valid) → closed
  a public or custom holiday                   → the team's holiday mode (limited or closed)
  the supervisor's mode is limited             → limited
  otherwise                                    → normal
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from .models import ServiceMode, Team

MIDNIGHT = time(0, 0)
HORIZON_DAYS = 370

# Bumped whenever teams, hours, holidays or routing configuration change in this process (model
# signals, and the actions below that write with queryset updates): caches of calendars and
# policies (routing/queries.py) compare it. Other processes see changes after their short TTL.
_config_version = 0


def _bump() -> None:
    global _config_version
    _config_version += 1


def note_config_change() -> None:
    """Call after writing configuration routing caches: now, and again once the transaction
    commits (so a reader in this process cannot keep what it read in between)."""
    from django.db import transaction

    _bump()
    transaction.on_commit(_bump)


def config_version() -> int:
    return _config_version


@dataclass(frozen=True)
class Calendar:
    team_id: int
    name: str
    timezone: str = "UTC"
    # (weekday 0=Monday, opens, closes); closes 00:00 = until midnight. Empty = 24/7.
    intervals: tuple[tuple[int, time, time], ...] = ()
    custom_holidays: frozenset[date] = field(default_factory=frozenset)
    country: str = ""
    subdivision: str = ""
    service_mode: str = ServiceMode.NORMAL
    service_mode_until: datetime | None = None
    holiday_mode: str = ServiceMode.CLOSED
    fallback_team_id: int | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@functools.lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    import holidays

    try:
        calendar = holidays.country_holidays(
            country.upper(), subdiv=subdivision or None, years=year
        )
    except (NotImplementedError, KeyError):
        return frozenset()
    return frozenset(calendar.keys())


def is_holiday(calendar: Calendar, local_day: date) -> bool:
    if local_day in calendar.custom_holidays:
        return True
    if calendar.country:
        return local_day in _public_holidays(calendar.country, calendar.subdivision, local_day.year)
    return False


def _within_hours(calendar: Calendar, local: datetime) -> bool:
    if not calendar.intervals:
        return True
    weekday, clock = local.weekday(), local.time().replace(tzinfo=None)
    for day, opens, closes in calendar.intervals:
        if day != weekday:
            continue
        if opens <= clock and (closes == MIDNIGHT or clock < closes):
            return True
    return False


def _manual_mode(calendar: Calendar, now: datetime) -> str:
    if calendar.service_mode == ServiceMode.NORMAL:
        return ServiceMode.NORMAL
    if calendar.service_mode_until is not None and now >= calendar.service_mode_until:
        return ServiceMode.NORMAL
    return calendar.service_mode


def mode_at(calendar: Calendar, now: datetime) -> str:
    """The team's effective service mode at `now` (an aware datetime)."""
    local = now.astimezone(calendar.tz)
    if not _within_hours(calendar, local):
        return ServiceMode.CLOSED
    manual = _manual_mode(calendar, now)
    if manual == ServiceMode.CLOSED:
        return ServiceMode.CLOSED
    if is_holiday(calendar, local.date()):
        return calendar.holiday_mode
    return manual


def admits(mode: str, *, urgent: bool) -> bool:
    """Whether a team in `mode` lets humans take an item."""
    return mode == ServiceMode.NORMAL or (mode == ServiceMode.LIMITED and urgent)


def is_open_at(calendar: Calendar, now: datetime) -> bool:
    """Humans are serving (normally or urgent matters only)."""
    return mode_at(calendar, now) != ServiceMode.CLOSED


def _candidates(calendar: Calendar, now: datetime) -> Iterable[datetime]:
    """Instants at which the mode can change for the better, in order, from `now` on."""
    tz = calendar.tz
    local_today = now.astimezone(tz).date()
    extra = []
    if calendar.service_mode_until is not None and calendar.service_mode_until > now:
        extra.append(calendar.service_mode_until)
    yield now
    for offset in range(HORIZON_DAYS):
        day = local_today + timedelta(days=offset)
        day_start = datetime.combine(day, MIDNIGHT, tzinfo=tz)
        starts = [day_start]
        starts += [
            datetime.combine(day, opens, tzinfo=tz)
            for weekday, opens, _closes in calendar.intervals
            if weekday == day.weekday()
        ]
        next_midnight = datetime.combine(day + timedelta(days=1), MIDNIGHT, tzinfo=tz)
        starts += [moment for moment in extra if day_start <= moment < next_midnight]
        for moment in sorted(starts):
            # Normalise wall-clock times that fall into a DST gap to a real instant.
            moment = moment.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(tz)
            if moment > now:
                yield moment


def next_opening_at(calendar: Calendar, now: datetime, *, urgent: bool = False) -> datetime | None:
    """The first instant at or after `now` when the team serves an item (any item, or an urgent
    one with `urgent=True`). `now` itself when it serves already; None when it never will within
    a year (say it is closed until a supervisor reopens it)."""
    for moment in _candidates(calendar, now):
        if admits(mode_at(calendar, moment), urgent=urgent):
            return moment
    return None


def format_local(calendar: Calendar, when: datetime, now: datetime) -> str:
    """'09:00', '09:00 tomorrow' or '09:00 on Monday 6 January', in the team's time zone."""
    tz = calendar.tz
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return clock
    if local.date() == today + timedelta(days=1):
        return f"{clock} tomorrow"
    return f"{clock} on {local.strftime('%A')} {local.day} {local.strftime('%B')}"


# --- Database snapshots --------------------------------------------------------------------


def calendars_for(team_ids: Iterable[int], *, now: datetime) -> dict[int, Calendar]:
    """Calendar snapshots of several teams in three queries, whatever their number."""
    from .models import BusinessHours, Holiday

    ids = set(team_ids)
    if not ids:
        return {}
    teams = Team.objects.filter(pk__in=ids).only(
        "pk",
        "name",
        "timezone",
        "country",
        "subdivision",
        "service_mode",
        "service_mode_until",
        "holiday_mode",
        "fallback_team_id",
    )
    intervals: dict[int, list[tuple[int, time, time]]] = {}
    for team_id, weekday, opens, closes in BusinessHours.objects.filter(
        team_id__in=ids
    ).values_list("team_id", "weekday", "opens", "closes"):
        intervals.setdefault(team_id, []).append((weekday, opens, closes))
    custom: dict[int, set[date]] = {}
    since = (now - timedelta(days=2)).date()
    for team_id, day in Holiday.objects.filter(team_id__in=ids, date__gte=since).values_list(
        "team_id", "date"
    ):
        custom.setdefault(team_id, set()).add(day)
    return {
        team.pk: Calendar(
            team_id=team.pk,
            name=team.name,
            timezone=team.timezone,
            intervals=tuple(sorted(intervals.get(team.pk, []))),
            custom_holidays=frozenset(custom.get(team.pk, set())),
            country=team.country,
            subdivision=team.subdivision,
            service_mode=team.service_mode,
            service_mode_until=team.service_mode_until,
            holiday_mode=team.holiday_mode,
            fallback_team_id=team.fallback_team_id,
        )
        for team in teams
    }


def calendar_for(team: Team, *, now: datetime) -> Calendar:
    return calendars_for([team.pk], now=now)[team.pk]


def is_open(team: Team, now: datetime) -> bool:
    """Is the team serving at `now` (normally or urgent matters only)?"""
    return is_open_at(calendar_for(team, now=now), now)


def next_opening(team: Team, now: datetime, *, urgent: bool = False) -> datetime | None:
    """When the team next serves (see next_opening_at)."""
    return next_opening_at(calendar_for(team, now=now), now, urgent=urgent)


def service_mode(team: Team, now: datetime) -> str:
    return mode_at(calendar_for(team, now=now), now)
