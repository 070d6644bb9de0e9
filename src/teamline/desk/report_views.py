"""Reports on the desk (/desk/reports/): the KPIs of the teams and channels one picks over a
range of days, as tables and server-drawn charts, the same selection as CSV, and the weekly
report emails (docs/analytics.md, "Reports").

Everyone on the desk may use it for the teams they may read the KPIs of (analytics/access.py:
supervisors their teams, admins all, agents their own teams); a team in the address that the
person cannot see is a 404. The figures come from analytics.reports (the KPI API's code);
schedules are written by analytics.schedules' actions.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.models import User
from teamline.analytics.access import access_report_recipient, access_report_schedule
from teamline.analytics.reports import (
    MAX_REPORT_CHANNELS,
    MAX_REPORT_TEAMS,
    REPORT_INTERVALS,
    Selection,
    build_report,
    check_selection,
    kpi_csv,
)
from teamline.analytics.schedules import (
    MAX_RECIPIENTS,
    ScheduleInput,
    do_create_report_schedule,
    do_delete_report_schedule,
    do_set_report_schedule_paused,
    mail_configured,
    recipient_choices,
    schedules_for,
)
from teamline.core.errors import InvalidInput
from teamline.core.jsonsafe import check_text
from teamline.teams.queries import access_team, teams_for

from .report_charts import bar_chart
from .templatetags.desk_tags import CHANNEL_NAMES
from .views import agent_of, desk_view

DEFAULT_DAYS = 7
SAFE_QUERY = re.compile(r"^[A-Za-z0-9_=&%.+-]+$")
INTERVAL_LABELS = {
    "1h": gettext_lazy("Hour"),
    "1d": gettext_lazy("Day"),
    "1w": gettext_lazy("Week"),
    "1mo": gettext_lazy("Month"),
}
WEEKDAYS = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]
# Row and axis labels per interval (Django date formats, in the page's language).
ROW_FORMATS = {"1h": "D j M, H:i", "1d": "D j M Y", "1w": "j M Y", "1mo": "F Y"}
AXIS_FORMATS = {"1h": "H:i", "1d": "j M", "1w": "j M", "1mo": "M Y"}


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(check_text(value.strip(), name))
    except ValueError:
        raise InvalidInput(_("Dates must look like 2026-03-10.")) from None


def _selection(actor: User, params: QueryDict, teams: list[Any]) -> Selection:
    """The selection in `params` (team, channel, from, to, interval), defaults filled in:
    the first of the actor's teams, every channel, the last seven days, by day. A team the
    actor cannot see is NotFound (404); anything else wrong is InvalidInput (400)."""
    team_ids = params.getlist("team")
    channels = params.getlist("channel")
    if len(team_ids) > MAX_REPORT_TEAMS:
        raise InvalidInput(_("Choose at most %(n)s teams.") % {"n": MAX_REPORT_TEAMS})
    if len(channels) > MAX_REPORT_CHANNELS:
        raise InvalidInput(_("Choose at most %(n)s channels.") % {"n": MAX_REPORT_CHANNELS})
    chosen = [access_team(actor, value) for value in team_ids] or teams[:1]
    for channel in channels:
        if channel not in CHANNEL_NAMES:
            raise InvalidInput(_("Unknown channel: choose channels from the list."))
    zone = ZoneInfo(chosen[0].timezone) if chosen else ZoneInfo("UTC")
    today = timezone.now().astimezone(zone).date()
    first_text = params.get("from", "")
    last_text = params.get("to", "")
    last = _date(last_text, "to") if last_text else today
    first = _date(first_text, "from") if first_text else last - timedelta(days=DEFAULT_DAYS - 1)
    interval = params.get("interval", "") or "1d"
    return check_selection(chosen, channels, first, last, interval)


def _rows(report: dict[str, Any], interval: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    rows = []
    for row in report["intervals"]:
        start = datetime.fromisoformat(row["start"]).astimezone(zone).replace(tzinfo=None)
        rows.append(
            {
                **row,
                "label": date_format(start, ROW_FORMATS[interval]),
                "axis": date_format(start, AXIS_FORMATS[interval]),
                "sl_percent": None if row["service_level"] is None else row["service_level"] * 100,
            }
        )
    return rows


def _charts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    axis = [row["axis"] for row in rows]
    volumes = bar_chart(
        axis,
        [
            [row["offered"] for row in rows],
            [row["answered"] for row in rows],
            [row["abandoned"] for row in rows],
        ],
    )
    service = bar_chart(axis, [[row["sl_percent"] for row in rows]], top=100, tick_format="{:g} %")
    return {"volumes_chart": volumes, "service_chart": service}


def _page_context(request: HttpRequest, params: QueryDict) -> tuple[dict[str, Any], int]:
    """The page's context for the selection in `params` and its status: 200, or 400 with the
    form's error (a NotFound team propagates: 404)."""
    actor = agent_of(request)
    teams = list(teams_for(actor).order_by("name", "pk")[:200])
    context: dict[str, Any] = {
        "section": "reports",
        "teams": teams,
        "channels": [(key, name) for key, name in CHANNEL_NAMES.items()],
        "intervals": [(key, INTERVAL_LABELS[key]) for key in REPORT_INTERVALS],
        "weekdays": list(enumerate(WEEKDAYS)),
        "hours": list(range(24)),
        "schedules": list(schedules_for(actor).prefetch_related("teams", "recipients")[:100]),
        "recipients": list(recipient_choices(actor)[:200]),
        "mail_configured": mail_configured(),
        "max_recipients": MAX_RECIPIENTS,
        "form": {
            "team": params.getlist("team"),
            "channel": params.getlist("channel"),
            "from": params.get("from", ""),
            "to": params.get("to", ""),
            "interval": params.get("interval", "") or "1d",
        },
    }
    if not teams:
        return context, 200
    try:
        selection = _selection(actor, params, teams)
    except InvalidInput as exc:
        context["error"] = exc.message
        return context, 400
    report = build_report(actor, selection, timezone.now())
    rows = _rows(report, selection.interval, selection.zone)
    query = [("team", t.pk) for t in selection.teams] + [("channel", c) for c in selection.channels]
    query += [
        ("from", selection.first.isoformat()),
        ("to", selection.last.isoformat()),
        ("interval", selection.interval),
    ]
    context.update(
        selection=selection,
        selected_team_ids=[t.pk for t in selection.teams],
        report=report,
        rows=rows,
        totals=report["totals"],
        interval_label=INTERVAL_LABELS[selection.interval],
        channel_names=[str(CHANNEL_NAMES.get(c, c)) for c in selection.channels],
        csv_url=reverse("desk:reports_csv") + "?" + urlencode(query),
        query=urlencode(query),
        **_charts(rows),
    )
    context["form"].update(
        {
            "from": selection.first.isoformat(),
            "to": selection.last.isoformat(),
            "team": [str(t.pk) for t in selection.teams],
        }
    )
    return context, 200


@require_GET
@desk_view
def reports(request: HttpRequest) -> HttpResponse:
    context, status = _page_context(request, request.GET)
    return render(request, "desk/reports.html", context, status=status)


@require_GET
@desk_view
def reports_csv(request: HttpRequest) -> HttpResponse:
    """The selection as the KPI CSV (the columns of GET /api/v1/analytics/kpis.csv)."""
    actor = agent_of(request)
    teams = list(teams_for(actor).order_by("name", "pk")[:1])
    if not teams:
        raise InvalidInput(_("You are in no team, so there is nothing to report."))
    selection = _selection(actor, request.GET, teams)
    report = build_report(actor, selection, timezone.now())
    response = HttpResponse(kpi_csv(report["intervals"]), content_type="text/csv; charset=utf-8")
    name = f"report-{selection.first.isoformat()}-{selection.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _int(value: str, message: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(message) from None


@require_POST
@desk_view
def create_schedule(request: HttpRequest) -> HttpResponse:
    """Schedule a weekly email of the selection on the page (its teams and channels)."""
    actor = agent_of(request)
    post = request.POST
    try:
        recipient_ids = post.getlist("recipients")
        if len(recipient_ids) > MAX_RECIPIENTS:
            raise InvalidInput(_("Choose at most %(n)s recipients.") % {"n": MAX_RECIPIENTS})
        if len(post.getlist("team")) > MAX_REPORT_TEAMS:
            raise InvalidInput(_("Choose at most %(n)s teams.") % {"n": MAX_REPORT_TEAMS})
        teams = [access_team(actor, value) for value in post.getlist("team")]
        channels = post.getlist("channel")
        for channel in channels:
            if channel not in CHANNEL_NAMES:
                raise InvalidInput(_("Unknown channel: choose channels from the list."))
        data = ScheduleInput(
            name=post.get("name", ""),
            teams=teams,
            channels=channels,
            weekday=_int(post.get("weekday", ""), _("Choose a weekday.")),
            hour=_int(post.get("hour", ""), _("Choose an hour from 0 to 23.")),
            recipients=[access_report_recipient(actor, value) for value in recipient_ids],
        )
        schedule = do_create_report_schedule(data, actor=actor)
    except InvalidInput as exc:
        context, _status = _page_context(request, post)
        context.update(
            schedule_error=exc.message,
            schedule_form={
                "name": post.get("name", ""),
                "weekday": post.get("weekday", ""),
                "hour": post.get("hour", ""),
                "recipients": recipient_ids,
            },
        )
        return render(request, "desk/reports.html", context, status=400)
    flash.success(
        request,
        _("Weekly email “%(name)s” scheduled.") % {"name": schedule.name},
    )
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    """Back to the page with the selection it was showing (a query string of ours: only
    URL-safe characters are kept as they were, anything else drops it)."""
    query = request.POST.get("query", "")
    url = reverse("desk:reports")
    return f"{url}?{query}" if query and len(query) < 2000 and SAFE_QUERY.match(query) else url


@require_POST
@desk_view
def pause_schedule(request: HttpRequest, schedule_id: int) -> HttpResponse:
    actor = agent_of(request)
    schedule = access_report_schedule(actor, schedule_id)
    paused = request.POST.get("paused") == "1"
    schedule = do_set_report_schedule_paused(schedule, paused, actor=actor)
    message = (
        _("Weekly email “%(name)s” paused.") if paused else _("Weekly email “%(name)s” resumed.")
    )
    flash.success(request, message % {"name": schedule.name})
    return redirect(_back(request))


@require_POST
@desk_view
def delete_schedule(request: HttpRequest, schedule_id: int) -> HttpResponse:
    actor = agent_of(request)
    schedule = access_report_schedule(actor, schedule_id)
    do_delete_report_schedule(schedule, actor=actor)
    flash.success(request, _("Weekly email “%(name)s” deleted.") % {"name": schedule.name})
    return redirect(_back(request))
