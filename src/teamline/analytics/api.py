"""Analytics in the JSON API (/api/v1/analytics/…): the KPIs of a team per interval.

`GET /analytics/kpis` answers JSON, or CSV with `Accept: text/csv`; `GET /analytics/kpis.csv`
always CSV. docs/analytics.md defines every figure; analytics/access.py says who reads what.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictBool

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, Id, errors, text_field
from teamline.core.errors import InvalidInput
from teamline.routing.queries import service_level_target_table
from teamline.teams.queries import access_team

from .access import access_kpi_scope, access_report_recipient, access_report_schedule
from .models import ReportSchedule
from .queries import INTERVALS, MAX_RANGE, kpis
from .reports import MAX_REPORT_CHANNELS, MAX_REPORT_TEAMS, add_deflection, kpi_csv
from .schedules import (
    MAX_RECIPIENTS,
    ScheduleInput,
    do_create_report_schedule,
    do_delete_report_schedule,
    do_set_report_schedule_paused,
    last_sent,
    schedules_for,
)
from .staffing import forecast_report, staffing_report

router = Router(tags=["analytics"])

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A date, or a date and time with an optional offset (ISO 8601): anything else is a 422.
MOMENT = r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?$"
QUEUES = ("chat", "email", "voice", "video")


class KpiQuery(Schema):
    team: int = Field(ge=1, le=MAX_ID, description="The team (one you work in or supervise).")
    queue: str | None = Field(
        None, pattern=r"^(?:chat|email|voice|video)$", description="Only this queue (channel kind)."
    )
    channel: str | None = Field(
        None,
        max_length=32,
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="Only this channel (webchat, sms, whatsapp, email, voice, …).",
    )
    agent: int | None = Field(
        None, ge=1, le=MAX_ID, description="Only this agent's figures (yourself, if an agent)."
    )
    start: str | None = Field(
        None,
        alias="from",
        max_length=40,
        pattern=MOMENT,
        description="A local date (YYYY-MM-DD, its midnight in the team's time zone) or an ISO "
        "8601 time with offset. Default: today, local.",
    )
    end: str | None = Field(
        None,
        alias="to",
        max_length=40,
        pattern=MOMENT,
        description="A local date (included: to its end) or an ISO 8601 time (excluded). "
        "Default: the end of the day of `from`.",
    )
    interval: str = Field(
        "1d", pattern=r"^(?:15m|1h|1d|1w|1mo)$", description="15m, 1h, 1d, 1w or 1mo."
    )


class IntervalOut(Schema):
    start: str = Field(description="Local start, ISO 8601 with the team's offset.")
    end: str
    offered: int
    answered: int
    abandoned: int
    abandoned_within_5s: int
    answered_within_threshold: int
    service_level: float | None = Field(
        description="answered within T ÷ (offered − abandoned within 5 s), 0–1."
    )
    asa_seconds: float | None
    avg_time_to_abandon_seconds: float | None
    abandon_rate: float | None
    handled: int
    aht_seconds: float | None = Field(description="(answered → resolved + wrap-up), mean.")
    wrap_up_seconds: float | None
    transfers: int
    first_response_seconds: float | None
    resolved: int
    resolution_seconds: float | None
    fcr: float | None = Field(description="null while pending (7 days after the interval).")
    fcr_status: str = Field(description="pending or final.")
    csat: float | None = Field(description="Mean CSAT score, 1–5.")
    csat_responses: int
    nps: float | None = Field(description="% promoters − % detractors, −100–100.")
    nps_responses: int
    deflection: float | None = Field(
        description="Self-service episodes deflected ÷ judged (supervisors and admins)."
    )


class KpisOut(Schema):
    team: int
    timezone: str
    interval: str
    intervals: list[IntervalOut]


def _moment(value: str, name: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A local date (its midnight; for `to` the next one) or an ISO time with offset."""
    value = value.strip()
    try:
        if DATE.match(value):
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            moment = datetime.combine(day, time(0), zone).astimezone(UTC)
        else:
            moment = datetime.fromisoformat(value)
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=zone)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"'{name}' must be a date (YYYY-MM-DD) or an ISO 8601 time.") from exc
    if not EARLIEST <= moment <= LATEST:
        raise InvalidInput(f"'{name}' must be between 2000 and 2100.")
    return moment


def kpi_range(filters: KpiQuery, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    today = now.astimezone(zone).date().isoformat()
    start = _moment(filters.start or today, "from", zone, end=False)
    if filters.end:
        end = _moment(filters.end, "to", zone, end=True)
    else:
        day = start.astimezone(zone).date().isoformat()
        end = _moment(day, "to", zone, end=True)
    if end <= start:
        raise InvalidInput("'to' must be after 'from'.")
    limit = MAX_RANGE[filters.interval]
    if end - start > limit:
        raise InvalidInput(
            f"At interval {filters.interval} the range is at most {limit.days} days."
        )
    return start, end


def _report(request: HttpRequest, filters: KpiQuery) -> dict[str, Any]:
    actor: User = request.user  # type: ignore[assignment]
    scope = access_kpi_scope(actor, filters.team, filters.agent)
    zone = ZoneInfo(scope.team.timezone)
    now = timezone.now()
    start, end = kpi_range(filters, zone, now)
    try:
        intervals = kpis(
            scope.team,
            start=start,
            end=end,
            interval=filters.interval,
            now=now,
            queue=filters.queue,
            channel=filters.channel,
            agent_id=scope.agent_id,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    # Deflection is the figure of the team's supervisors and admins (None for the others).
    add_deflection(actor, [scope.team], intervals, filters.interval, now, agent_id=scope.agent_id)
    return {
        "team": scope.team.pk,
        "timezone": scope.team.timezone,
        "interval": filters.interval,
        "intervals": intervals,
    }


def _csv(report: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(kpi_csv(report["intervals"]), content_type="text/csv; charset=utf-8")
    name = f"kpis-team{report['team']}-{report['interval']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _wants_csv(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


@router.get(
    "/kpis",
    response={200: KpisOut, **errors(400, 404, 422)},
    summary="KPIs of a team per interval in its time zone (JSON, or CSV with Accept: text/csv)",
)
def kpis_view(request: HttpRequest, filters: Query[KpiQuery]) -> Any:
    """Offered, answered, abandoned, service level, ASA, AHT, FCR, CSAT, NPS, deflection and
    more for each 15-minute, hourly, daily, weekly or monthly interval of [from, to) in the
    team's time zone (docs/analytics.md). Supervisors read the teams they supervise (admins
    all); agents their teams' and their own figures; anyone else 404."""
    report = _report(request, filters)
    if _wants_csv(request):
        return _csv(report)
    return report


@router.get(
    "/kpis.csv",
    response={200: None, **errors(400, 404, 422)},
    summary="The same KPIs as CSV",
)
def kpis_csv(request: HttpRequest, filters: Query[KpiQuery]) -> HttpResponse:
    """/analytics/kpis as CSV: one row per interval, the JSON's field names as header."""
    return _csv(_report(request, filters))


__all__ = ["INTERVALS", "QUEUES", "kpi_range", "router"]


# --- Forecast and staffing (docs/analytics.md, "Forecast and staffing") -------------------

MAX_DAYS_AWAY = 366


class DayQuery(Schema):
    team: Annotated[int, Field(ge=1, le=MAX_ID, description="The team's id.")]
    date: date


class BacktestOut(Schema):
    days: int
    mape: float | None = Field(description="Mean absolute percentage error per interval.")
    wape: float | None = Field(description="Σ|actual − forecast| ÷ Σ actual.")
    holidays: dict[str, Any]


class ForecastIntervalOut(Schema):
    start: str
    contacts: float


class QueueForecastOut(Schema):
    method: str
    backtest: BacktestOut
    intervals: list[ForecastIntervalOut]


class ForecastOut(Schema):
    team: int
    date: str
    holiday: bool
    queues: dict[str, QueueForecastOut]


class QueueNeedOut(Schema):
    contacts: float
    aht_seconds: float
    slots_needed: int
    agents_needed: int
    model: str


class StaffingIntervalOut(Schema):
    start: str
    agents_needed: int
    agents_available: float | None
    gap: float | None
    queues: dict[str, QueueNeedOut]


class StaffingOut(Schema):
    team: int
    date: str
    holiday: bool
    targets: dict[str, dict[str, int]]
    slots_per_agent: dict[str, int]
    patience_seconds: dict[str, float | None]
    intervals: list[StaffingIntervalOut]


def _day(query: DayQuery) -> date:
    today = timezone.now().date()
    if abs((query.date - today).days) > MAX_DAYS_AWAY:
        raise InvalidInput(f"date: at most {MAX_DAYS_AWAY} days from today")
    return query.date


@router.get(
    "/forecast",
    response={200: ForecastOut, **errors(400, 404, 422)},
    summary="Forecast contacts per 15-minute interval of a team's day",
)
def forecast(request: HttpRequest, query: Query[DayQuery]) -> Any:
    """Contacts offered per queue for each 15-minute slot of the team's local day, by the
    method the backtest on the team's history chose (named, with its WAPE and MAPE)."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    team = access_team(actor, query.team)
    return forecast_report(team, _day(query))


@router.get(
    "/staffing",
    response={200: StaffingOut, **errors(400, 404, 422)},
    summary="Agents needed and available per 15-minute interval of a team's day",
)
def staffing(request: HttpRequest, query: Query[DayQuery]) -> Any:
    """Per 15-minute interval: the forecast per queue, the agents it needs for the queues'
    service-level targets (Erlang C, or Erlang A on voice with abandonment), the agents
    actually available (intervals that have begun) and the difference."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    team = access_team(actor, query.team)
    return staffing_report(team, _day(query), targets=service_level_target_table())


# --- Weekly reports by email (docs/analytics.md, "Reports") -------------------------------


class ReportScheduleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = text_field(max_length=100, description="What the report is called.")
    teams: list[Id] = Field(
        min_length=1, max_length=MAX_REPORT_TEAMS, description="Teams you see, in one time zone."
    )
    channels: list[Annotated[str, Field(max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=list,
        max_length=MAX_REPORT_CHANNELS,
        description="Only these channels (webchat, sms, …); empty: every channel.",
    )
    weekday: int = Field(ge=0, le=6, description="0 Monday … 6 Sunday.")
    hour: int = Field(ge=0, le=23, description="The hour, in the teams' time zone.")
    recipients: list[Id] = Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="Staff ids; each must see every one of the teams and have an email address.",
    )


class ReportSchedulePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    paused: StrictBool = Field(description="true pauses, false resumes from the next send.")


class ReportScheduleOut(Schema):
    id: int
    name: str
    owner: int
    teams: list[int]
    channels: list[str]
    weekday: int
    hour: int
    timezone: str
    recipients: list[int]
    paused: bool
    next_run_at: datetime | None = Field(description="The next send (UTC); null while paused.")
    last_sent_at: datetime | None


class ReportSchedulesOut(Schema):
    schedules: list[ReportScheduleOut]


def _present_schedule(schedule: ReportSchedule) -> dict[str, Any]:
    teams = sorted(schedule.teams.all(), key=lambda t: t.pk)
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "owner": schedule.owner_id,
        "teams": [t.pk for t in teams],
        "channels": list(schedule.channels),
        "weekday": schedule.weekday,
        "hour": schedule.hour,
        "timezone": teams[0].timezone if teams else "UTC",
        "recipients": sorted(u.pk for u in schedule.recipients.all()),
        "paused": schedule.paused,
        "next_run_at": schedule.next_run_at,
        "last_sent_at": last_sent(schedule),
    }


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


@router.get(
    "/report-schedules",
    response={200: ReportSchedulesOut, **errors()},
    summary="Your weekly report emails",
)
def list_report_schedules(request: HttpRequest) -> Any:
    """The weekly report emails you scheduled (admins: everyone's), newest first."""
    schedules = schedules_for(_actor(request)).prefetch_related("teams", "recipients")[:200]
    return {"schedules": [_present_schedule(s) for s in schedules]}


@router.post(
    "/report-schedules",
    response={201: ReportScheduleOut, **errors(400, 403, 404, 422)},
    summary="Schedule a weekly report email",
)
def create_report_schedule(request: HttpRequest, payload: ReportScheduleIn) -> Any:
    """Every week on `weekday` at `hour` (the teams' time zone) the KPIs of the seven days
    before, by day, as the KPI CSV, mailed to the recipients in your language. 404 for a team
    or recipient you cannot see; 400 for teams in different time zones or a recipient who
    may not see every team."""
    actor = _actor(request)
    teams = [access_team(actor, team_id) for team_id in payload.teams]
    recipients = [access_report_recipient(actor, user_id) for user_id in payload.recipients]
    data = ScheduleInput(
        name=payload.name,
        teams=teams,
        channels=payload.channels,
        weekday=payload.weekday,
        hour=payload.hour,
        recipients=recipients,
    )
    schedule = do_create_report_schedule(data, actor=actor)
    return Status(201, _present_schedule(schedule))


@router.patch(
    "/report-schedules/{schedule_id}",
    response={200: ReportScheduleOut, **errors(400, 404, 422)},
    summary="Pause or resume a weekly report email",
)
def update_report_schedule(
    request: HttpRequest, schedule_id: Id, payload: ReportSchedulePatch
) -> Any:
    """Pause (nothing is sent) or resume (sent again from the next weekday and hour; the
    weeks missed while paused are not)."""
    actor = _actor(request)
    schedule = access_report_schedule(actor, schedule_id)
    schedule = do_set_report_schedule_paused(schedule, payload.paused, actor=actor)
    return _present_schedule(schedule)


@router.delete(
    "/report-schedules/{schedule_id}",
    response={204: None, **errors(404, 422)},
    summary="Delete a weekly report email",
)
def delete_report_schedule(request: HttpRequest, schedule_id: Id) -> Any:
    """Delete one of your weekly report emails (admins: anyone's); nothing more is sent."""
    actor = _actor(request)
    do_delete_report_schedule(access_report_schedule(actor, schedule_id), actor=actor)
    return Status(204, None)
