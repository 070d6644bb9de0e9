"""Every write to teams."""

from __future__ import annotations

from django.db import transaction

from teamline.accounts.models import User

from .models import Team, validate_timezone


def do_create_team(
    *, name: str, slug: str, timezone: str = "UTC", region: str = "", actor: User | None = None
) -> Team:
    validate_timezone(timezone)
    return Team.objects.create(name=name, slug=slug, timezone=timezone, region=region)


def do_add_team_member(
    team: Team, user: User, *, supervisor: bool = False, actor: User | None = None
) -> None:
    with transaction.atomic():
        if supervisor:
            team.supervisors.add(user)
        else:
            team.members.add(user)
