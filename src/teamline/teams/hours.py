"""Opening hours, holidays and service modes: is a team serving right now, and from when.

All arithmetic happens on a `Calendar` snapshot (plain data, no queries), so routing decisions
and the simulator can evaluate any instant cheaply with an injected clock; `calendar_for` and
`calendars_for` load snapshots from the database. Weekly hours are wall-clock times in the
team's own IANA time zone, so they follow daylight saving time; holidays are local dates, so a
holiday starts at the team's local midnight (a team in Asia/Shanghai and one in Europe/Oslo see
different days at the same instant).

One definition of "open" drives everything (`mode_at`, `is_open_at`, `next_opening_at`, the
appointment slots): each local day and each interval of hours is a range of real instants,
`[first reading of its start, first reading of its end)`, where the *first reading* of a
wall-clock time is the first instant at which the team's clock shows that time or later
(`first_reading`). On a spring-forward night a time the clock skips (02:30 in Oslo on 30 March
2025) is first read at the change itself (03:00 CEST, 01:00 UTC); on a fall-back night a
repeated time counts the first time the clock shows it, and an interval that has begun stays
open when the clock goes back (staff do not leave for an hour because their watch says 02:10
again). `next_opening_at` only looks at the instants where that definition can change its answer,
so it always names the first instant at which `is_open_at` holds.

Which hours apply on a day, and whether it is a holiday (`day_rules`):
  a holiday the team declared (custom holidays, official calendar)  → holiday
  a make-up working day the team declared (official calendar)       → working day
  a public holiday of the team's country (the `holidays` package)   → holiday
  a make-up working day of its country (where the package has them) → working day
  otherwise                                                          → the weekday's own hours
A working day (mainland China moves weekend days to working days around Golden Week and the
Spring Festival) uses the hours of the weekday it stands in for; when not declared, the team's
usual weekday hours (those of the first of Monday to Friday that has hours).

Effective mode at an instant (`mode_at`):
  outside the day's hours                      → closed
  the supervisor's mode is closed (still valid) → closed
  a holiday                                    → the team's holiday mode (limited or closed)
  the supervisor's mode is limited             → limited
  otherwise                                    → normal
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import holidays
from django.db import transaction
from django.db.models import CharField, F, IntegerField, Value

from teamline.core.formatting import format_when

from .models import BusinessHours, CalendarEntry, CalendarEntryKind, Holiday, ServiceMode, Team

MIDNIGHT = time(0, 0)
HORIZON_DAYS = 370
ONE_DAY = timedelta(days=1)

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
    # Custom holidays and the holidays of the team's official calendar.
    custom_holidays: frozenset[date] = field(default_factory=frozenset)
    # Make-up working days of the official calendar → the weekday whose hours apply (None: the
    # team's usual weekday hours).
    working_days: Mapping[date, int | None] = field(default_factory=dict, hash=False)
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
def _country_calendar(
    country: str, subdivision: str, year: int
) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, make-up working days) of a country in a year, as far as the `holidays`
    package knows them (it lists make-up working days for some countries, e.g. CN)."""
    try:
        calendar = holidays.country_holidays(
            country.upper(), subdiv=subdivision or None, years=year
        )
    except (NotImplementedError, KeyError):
        return frozenset(), frozenset()
    workdays = getattr(calendar, "weekend_workdays", ()) or ()
    return (
        frozenset(calendar.keys()),
        frozenset(day for day in workdays if day.year == year),
    )


# --- Wall clock → instants -----------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _first_reading(zone: str, day: date, clock: time) -> datetime:
    tz = _zone(zone)
    wall = datetime.combine(day, clock)
    # fold=0 is the earlier of two readings of a repeated time: the first one.
    first = wall.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # The clock skips `wall` (spring forward): it first shows a later time at the change itself,
    # which lies between the readings with the offsets after (fold=1) and before (fold=0).
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def first_reading(calendar: Calendar, day: date, clock: time) -> datetime:
    """The first instant (UTC) at which the team's clock shows `clock` on `day`, or a later
    time of that day if the clock skips it (a DST gap)."""
    return _first_reading(calendar.timezone, day, clock)


def day_start(calendar: Calendar, day: date) -> datetime:
    """The first instant of a local day (its midnight, or the end of a gap over midnight)."""
    return _first_reading(calendar.timezone, day, MIDNIGHT)


def day_of(calendar: Calendar, now: datetime) -> date:
    """The local day `now` belongs to: the day whose range [day_start, next day_start) holds it.
    That is the local date, except after a fall back across midnight (00:30 back to 23:30): the
    repeated half hour belongs to the day that has already begun."""
    day = now.astimezone(calendar.tz).date()
    if now < day_start(calendar, day):
        return day - ONE_DAY
    if now >= day_start(calendar, day + ONE_DAY):
        return day + ONE_DAY
    return day


# --- Days: holidays, working days and the hours that apply ---------------------------------


def usual_weekday(calendar: Calendar) -> int:
    """The weekday whose hours a make-up working day uses when it does not name one: the first
    of Monday to Friday with hours (Monday for a team open around the clock)."""
    with_hours = {weekday for weekday, _opens, _closes in calendar.intervals}
    return next((weekday for weekday in range(5) if weekday in with_hours), 0)


def day_rules(calendar: Calendar, day: date) -> tuple[bool, int]:
    """(is the day a holiday, the weekday whose hours apply on it)."""
    if day in calendar.custom_holidays:
        return True, day.weekday()
    if day in calendar.working_days:
        declared = calendar.working_days[day]
        return False, usual_weekday(calendar) if declared is None else declared
    if calendar.country:
        public, workdays = _country_calendar(calendar.country, calendar.subdivision, day.year)
        if day in public:
            return True, day.weekday()
        if day in workdays:
            return False, usual_weekday(calendar)
    return False, day.weekday()


def is_holiday(calendar: Calendar, local_day: date) -> bool:
    return day_rules(calendar, local_day)[0]


def intervals_on(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The team's hours on a local day as ranges of instants [start, end), in order (the whole
    day for a team open around the clock). Holidays and service modes are not applied."""
    return list(_ranges(calendar, day, day_rules(calendar, day)[1]))


def _ranges(calendar: Calendar, day: date, weekday: int) -> Iterator[tuple[datetime, datetime]]:
    if not calendar.intervals:
        yield day_start(calendar, day), day_start(calendar, day + ONE_DAY)
        return
    for hours_day, opens, closes in calendar.intervals:
        if hours_day == weekday:
            yield (
                first_reading(calendar, day, opens),
                day_start(calendar, day + ONE_DAY)
                if closes == MIDNIGHT
                else first_reading(calendar, day, closes),
            )


def _manual_mode(calendar: Calendar, now: datetime) -> str:
    if calendar.service_mode == ServiceMode.NORMAL:
        return ServiceMode.NORMAL
    if calendar.service_mode_until is not None and now >= calendar.service_mode_until:
        return ServiceMode.NORMAL
    return calendar.service_mode


def mode_at(calendar: Calendar, now: datetime) -> str:
    """The team's effective service mode at `now` (an aware datetime)."""
    day = day_of(calendar, now)
    holiday, weekday = day_rules(calendar, day)
    if not any(start <= now < end for start, end in _ranges(calendar, day, weekday)):
        return ServiceMode.CLOSED
    manual = _manual_mode(calendar, now)
    if manual == ServiceMode.CLOSED:
        return ServiceMode.CLOSED
    if holiday:
        return calendar.holiday_mode
    return manual


def admits(mode: str, *, urgent: bool) -> bool:
    """Whether a team in `mode` lets humans take an item."""
    return mode == ServiceMode.NORMAL or (mode == ServiceMode.LIMITED and urgent)


def is_open_at(calendar: Calendar, now: datetime) -> bool:
    """Humans are serving (normally or urgent matters only)."""
    return mode_at(calendar, now) != ServiceMode.CLOSED


def _candidates(calendar: Calendar, now: datetime) -> Iterator[datetime]:
    """`now`, then every later instant at which the mode can change for the better, in order:
    day starts (a holiday ends), interval starts, the end of a supervisor's mode. Between two of
    them `mode_at` cannot change for the better, because it only reads these same boundaries."""
    yield now
    first_day = day_of(calendar, now)
    until = calendar.service_mode_until
    for offset in range(HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        begins, ends = day_start(calendar, day), day_start(calendar, day + ONE_DAY)
        starts = [begins, *(start for start, _end in intervals_on(calendar, day))]
        if until is not None and begins <= until < ends:
            starts.append(until)
        # Instants stay in UTC: arithmetic and comparisons on aware datetimes that share a
        # zone are wall-clock operations, wrong across a change.
        for moment in sorted(starts):
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


def format_local(
    calendar: Calendar, when: datetime, now: datetime, language: str | None = "en"
) -> str:
    """'09:00', '09:00 tomorrow' or '09:00 on Monday 6 January', in the team's time zone, in
    `language` (core.formatting: Babel)."""
    return format_when(when, now, calendar.tz, language)


# --- Database snapshots --------------------------------------------------------------------


def calendars_for(team_ids: Iterable[int], *, now: datetime) -> dict[int, Calendar]:
    """Calendar snapshots of several teams in three queries, whatever their number."""
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
    working: dict[int, dict[date, int | None]] = {}
    since = (now - timedelta(days=2)).date()
    # Custom holidays and official calendar entries in one query (a union), so a snapshot stays
    # at three queries whatever the number of teams.
    holiday_rows = (
        Holiday.objects.filter(team_id__in=ids, date__gte=since)
        .annotate(
            last=F("date"),
            entry_kind=Value(CalendarEntryKind.HOLIDAY, output_field=CharField()),
            weekday=Value(None, output_field=IntegerField()),
        )
        .values_list("team_id", "date", "last", "entry_kind", "weekday")
        .order_by()
    )
    entry_rows = (
        CalendarEntry.objects.filter(team_id__in=ids, last_day__gte=since)
        .values_list("team_id", "first_day", "last_day", "kind", "hours_of")
        .order_by()
    )
    for team_id, first, last, kind, weekday in holiday_rows.union(entry_rows, all=True):
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            if kind == CalendarEntryKind.HOLIDAY:
                custom.setdefault(team_id, set()).add(day)
            else:
                working.setdefault(team_id, {})[day] = weekday
    return {
        team.pk: Calendar(
            team_id=team.pk,
            name=team.name,
            timezone=team.timezone,
            intervals=tuple(sorted(intervals.get(team.pk, []))),
            custom_holidays=frozenset(custom.get(team.pk, set())),
            working_days=working.get(team.pk, {}),
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
