"""Who may read which KPIs: every team and agent id from a request is resolved here.

Supervisors read the teams they supervise (admins every team) and any agent's figures there;
agents read their own teams' figures and their own; anyone else gets NotFound (404), the same
answer as for a team that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.teams.models import Team
from teamline.teams.queries import access_team

from .models import ReportSchedule
from .schedules import recipient_choices


@dataclass(frozen=True)
class KpiScope:
    team: Team
    agent_id: int | None
    supervises: bool


def access_kpi_scope(actor: User, team_id: object, agent_id: object = None) -> KpiScope:
    """The team (one the actor works in or supervises; any for admins) and, if asked, the
    agent whose figures to read: anyone for the team's supervisors and admins, only themselves
    for everyone else. NotFound otherwise."""
    if not actor.is_active:
        raise NotFound("No such team.")
    team = access_team(actor, team_id)
    supervises = actor.is_admin or team.supervisors.filter(pk=actor.pk).exists()
    agent: int | None = None
    if agent_id is not None and agent_id != "":
        agent = parse_id(agent_id, "agent")
        if not supervises and agent != actor.pk:
            raise NotFound("No such agent.")
    return KpiScope(team=team, agent_id=agent, supervises=supervises)


def access_report_schedule(actor: User, schedule_id: object) -> ReportSchedule:
    """A weekly report schedule of the actor's (any, for admins); NotFound otherwise."""
    pk = parse_id(schedule_id, "report schedule")
    schedules = ReportSchedule.objects.select_related("owner")
    if not actor.is_admin:
        schedules = schedules.filter(owner=actor)
    schedule = schedules.filter(pk=pk).first() if actor.is_active else None
    if schedule is None:
        raise NotFound("No such report schedule.")
    return schedule


def access_report_recipient(actor: User, user_id: object) -> User:
    """A staff member the actor may pick as a recipient of a report (analytics/schedules.py's
    recipient_choices: sharing one of the actor's teams; anyone for admins); NotFound
    otherwise. Whether they see the report's teams is the action's check."""
    pk = parse_id(user_id, "recipient")
    user = recipient_choices(actor).filter(pk=pk).first() if actor.is_active else None
    if user is None:
        raise NotFound("No such recipient.")
    return user
