"""Reads of teams that other apps call."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import Team


def teams_for(actor: User) -> QuerySet[Team]:
    """Teams the actor works in or supervises; every team for admins."""
    if actor.is_admin:
        return Team.objects.all()
    return Team.objects.filter(pk__in=membership_team_ids(actor))


def access_team(actor: User, team_id: object) -> Team:
    """A team the actor works in or supervises (any team for admins); NotFound otherwise."""
    pk = parse_id(team_id, "team")
    team = teams_for(actor).filter(pk=pk).first()
    if team is None:
        raise NotFound("No such team.")
    return team


def team_ids_for(actor: User) -> list[int]:
    if actor.is_admin:
        return list(Team.objects.values_list("pk", flat=True))
    return membership_team_ids(actor)


def team_for_region(region: str) -> Team | None:
    if not region:
        return None
    return Team.objects.filter(region__iexact=region).order_by("pk").first()


def membership_team_ids_query(user: User | int) -> QuerySet[Team, Any]:
    """membership_team_ids as a subquery, for a filter that should cost no query of its own
    (`team_id__in=…`: the scoping of every conversation the desk and the API open). `user`:
    the user or their id."""
    return Team.objects.filter(Q(members=user) | Q(supervisors=user)).values("pk")


def membership_team_ids(user: User) -> list[int]:
    """Teams the user is a member or supervisor of (not "all" for admins)."""
    return list(
        Team.objects.filter(Q(members=user) | Q(supervisors=user))
        .values_list("pk", flat=True)
        .distinct()
    )


def memberships_of(user: User) -> list[tuple[Team, bool]]:
    """The teams the user works in or supervises, by name, each with whether they supervise it
    (not "all" for admins)."""
    supervised = set(user.supervised_teams.values_list("pk", flat=True))
    teams = Team.objects.filter(Q(members=user) | Q(supervisors=user)).distinct().order_by("name")
    return [(team, team.pk in supervised) for team in teams]
