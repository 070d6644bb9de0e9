"""Every wellbeing id from a request is resolved here.

An agent reaches only their own suggestions; a supervisor only the alerts about members of the
teams they supervise (admins every alert). Anything else is NotFound (404), as for an id that
does not exist.
"""

from __future__ import annotations

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.teams.models import Team

from .models import WellbeingAlert
from .queries import alerts_for


def access_own_alert(actor: User, alert_id: object) -> WellbeingAlert:
    pk = parse_id(alert_id, "suggestion")
    alert = WellbeingAlert.objects.filter(pk=pk, agent=actor).first() if actor.is_active else None
    if alert is None:
        raise NotFound("No such suggestion.")
    return alert


def access_supervised_alert(actor: User, alert_id: object) -> WellbeingAlert:
    pk = parse_id(alert_id, "alert")
    alert = alerts_for(actor).filter(pk=pk).first()
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def access_settings_team(actor: User, team_id: object) -> Team:
    """A team whose wellbeing thresholds the actor may read and change: one they supervise (any
    for admins). NotFound otherwise, agents of the team included (their own page shows them)."""
    pk = parse_id(team_id, "team")
    teams = Team.objects.all() if actor.is_admin else Team.objects.filter(supervisors=actor)
    team = teams.filter(pk=pk).first() if actor.is_active else None
    if team is None:
        raise NotFound("No such team.")
    return team
