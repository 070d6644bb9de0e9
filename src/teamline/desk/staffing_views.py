"""Supervisors on the desk: a team's forecast and staffing for a day (/desk/staffing/).

A GET form (team, date) and one table per day: per 15-minute interval the contacts forecast
for each queue, the agents they need for the service-level targets, the agents actually
staffed (for intervals that have begun) and the gap. For supervisors and admins (403 for
agents, as the other supervisor pages); the team goes through teams.queries.access_team.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from teamline.accounts.models import Role
from teamline.analytics.staffing import staffing_report
from teamline.core.errors import Forbidden, InvalidInput
from teamline.routing.queries import service_level_target_table
from teamline.teams.queries import access_team, teams_for

from .views import agent_of, desk_view

MAX_DAYS_AWAY = 366
QUEUE_LABELS = {
    "chat": gettext_lazy("Chat"),
    "email": gettext_lazy("Email"),
    "voice": gettext_lazy("Voice"),
}


def _day(value: str) -> date:
    if not value:
        return timezone.localdate()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("The date must look like 2026-12-24.")) from None
    if abs((day - timezone.localdate()).days) > MAX_DAYS_AWAY:
        raise InvalidInput(_("Choose a date within a year of today."))
    return day


@require_GET
@desk_view
def staffing(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(_("Only supervisors and admins can see staffing."))
    teams = list(teams_for(actor).order_by("name"))
    context: dict[str, object] = {"section": "staffing", "teams": teams}
    if not teams:
        return render(request, "desk/staffing.html", context)
    team_id = request.GET.get("team") or teams[0].pk
    team = access_team(actor, team_id)
    day = _day(request.GET.get("date", ""))
    # One forecast per request: the report names each queue's method and backtest too.
    report = staffing_report(team, day, targets=service_level_target_table())
    queues = sorted(report["methods"])
    zone = ZoneInfo(team.timezone)
    for row in report["intervals"]:
        row["local_time"] = datetime.fromisoformat(row["start"]).astimezone(zone).strftime("%H:%M")
        row["cells"] = [row["queues"].get(q, {"contacts": 0, "agents_needed": 0}) for q in queues]
        row["short"] = None if row["gap"] is None else -row["gap"]
    context.update(
        team=team,
        day=day,
        report=report,
        queues=[QUEUE_LABELS.get(q, q) for q in queues],
        methods=[(QUEUE_LABELS.get(q, q), report["methods"][q]) for q in queues],
    )
    return render(request, "desk/staffing.html", context)
