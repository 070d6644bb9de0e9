"""Reports: the KPIs of a selection — teams, channels, a range of local dates, an interval —
for the Reports page, its CSV, the weekly email and the KPI API's CSV (docs/analytics.md,
"Reports").

Nothing here computes a KPI: the figures are `queries.kpis` and `queries.kpi_totals` (the
15-minute contact facts) and selfservice's deflection, exactly as the KPI API reads them, so a
report of one team and one channel is the API's answer for that team and channel.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput
from teamline.teams.models import Team

from .queries import kpi_totals, kpis

# The KPI CSV's columns, in order: the fields of one interval of GET /analytics/kpis
# (api.IntervalOut; a test holds the two together).
CSV_COLUMNS = (
    "start",
    "end",
    "offered",
    "answered",
    "abandoned",
    "abandoned_within_5s",
    "answered_within_threshold",
    "service_level",
    "asa_seconds",
    "avg_time_to_abandon_seconds",
    "abandon_rate",
    "handled",
    "aht_seconds",
    "wrap_up_seconds",
    "transfers",
    "first_response_seconds",
    "resolved",
    "resolution_seconds",
    "fcr",
    "fcr_status",
    "csat",
    "csat_responses",
    "nps",
    "nps_responses",
    "deflection",
)

# The intervals a report is shown in, and the longest range of each: a chart of more bars
# than this is not read by anyone (hours only for short ranges).
REPORT_INTERVALS = ("1h", "1d", "1w", "1mo")
REPORT_MAX_DAYS = {"1h": 7, "1d": 92, "1w": 371, "1mo": 731}
MAX_REPORT_TEAMS = 24
MAX_REPORT_CHANNELS = 16
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


@dataclass(frozen=True)
class Selection:
    """What a report shows: teams in one time zone, channels (empty: all), the local dates
    [first, last] and the interval. `start` and `end` are the UTC bounds of those dates."""

    teams: tuple[Team, ...]
    channels: tuple[str, ...]
    first: date
    last: date
    interval: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.teams[0].timezone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), self.zone).astimezone(UTC)


def check_channels(channels: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(c.strip() for c in channels if c.strip()))
    if len(chosen) > MAX_REPORT_CHANNELS:
        raise InvalidInput(_("Choose at most %(n)s channels.") % {"n": MAX_REPORT_CHANNELS})
    for channel in chosen:
        if not CHANNEL.match(channel):
            raise InvalidInput(_("Unknown channel: choose channels from the list."))
    return chosen


def check_teams(teams: Sequence[Team]) -> tuple[Team, ...]:
    """Teams already resolved through access_team: at least one, at most MAX_REPORT_TEAMS,
    all in one time zone (a day of the report starts at the same moment for each)."""
    chosen = tuple({team.pk: team for team in teams}.values())
    if not chosen:
        raise InvalidInput(_("Choose at least one team."))
    if len(chosen) > MAX_REPORT_TEAMS:
        raise InvalidInput(_("Choose at most %(n)s teams.") % {"n": MAX_REPORT_TEAMS})
    if len({team.timezone for team in chosen}) > 1:
        raise InvalidInput(
            _(
                "These teams are in different time zones, so their days start at different "
                "times: report on them separately."
            )
        )
    return chosen


def check_selection(
    teams: Sequence[Team], channels: Sequence[str], first: date, last: date, interval: str
) -> Selection:
    """A valid selection, or InvalidInput saying what to change."""
    if interval not in REPORT_INTERVALS:
        raise InvalidInput(_("Choose an interval: hour, day, week or month."))
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        raise InvalidInput(_("Choose dates between 2000 and 2099."))
    if last < first:
        raise InvalidInput(_("The last day must not be before the first."))
    days = (last - first).days + 1
    limit = REPORT_MAX_DAYS[interval]
    if days > limit:
        raise InvalidInput(
            _("At this interval a report covers at most %(days)s days.") % {"days": limit}
        )
    return Selection(check_teams(teams), check_channels(channels), first, last, interval)


# Deflection is the self-service app's figure (selfservice/deflection.py): it sits above
# analytics and provides it in its AppConfig.ready. Without that app there is none (None).
DeflectionSource = Callable[
    [User, Sequence[Team], list[datetime], datetime, str, datetime], list[list[int]] | None
]
_deflection_source: DeflectionSource | None = None


def provide_deflection(source: DeflectionSource) -> None:
    """`source(actor, teams, starts, end, interval, now)`: [deflected, judged] per interval
    starting at `starts` (the last ending at `end`), or None when `actor` may not read it."""
    global _deflection_source
    _deflection_source = source


def add_deflection(
    actor: User,
    teams: Sequence[Team],
    intervals: list[dict[str, Any]],
    interval: str,
    now: datetime,
    *,
    agent_id: int | None = None,
) -> list[int] | None:
    """Set each interval's `deflection` (deflected ÷ judged, None without a judged episode or
    for those who may not read it); returns the [deflected, judged] of all the intervals."""
    sums = None
    if intervals and agent_id is None:
        starts = [datetime.fromisoformat(row["start"]) for row in intervals]
        end = datetime.fromisoformat(intervals[-1]["end"])
        if _deflection_source is not None:
            sums = _deflection_source(actor, teams, starts, end, interval, now)
    for index, row in enumerate(intervals):
        deflected, judged = sums[index] if sums else (0, 0)
        row["deflection"] = deflected / judged if judged else None
    if sums is None:
        return None
    return [sum(s[0] for s in sums), sum(s[1] for s in sums)]


def build_report(actor: User, selection: Selection, now: datetime) -> dict[str, Any]:
    """The report of `selection` as `actor` may read it: one row per interval (the KPI API's
    fields) and the totals of the whole range."""
    teams, channels = list(selection.teams), list(selection.channels)
    intervals = kpis(
        teams,
        start=selection.start,
        end=selection.end,
        interval=selection.interval,
        now=now,
        channel=channels,
    )
    judged = add_deflection(actor, teams, intervals, selection.interval, now)
    totals = kpi_totals(
        teams,
        start=selection.start,
        end=selection.end,
        interval=selection.interval,
        now=now,
        channel=channels,
    )
    totals["deflection"] = judged[0] / judged[1] if judged and judged[1] else None
    return {
        "timezone": selection.teams[0].timezone,
        "interval": selection.interval,
        "intervals": intervals,
        "totals": totals,
    }


def kpi_csv(intervals: list[dict[str, Any]]) -> str:
    """The KPI CSV: a header of CSV_COLUMNS, then one row per interval (empty for None).
    Every cell is a number, an ISO time or a word of ours: nothing a spreadsheet executes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in intervals:
        writer.writerow(["" if row.get(name) is None else row[name] for name in CSV_COLUMNS])
    return buffer.getvalue()
