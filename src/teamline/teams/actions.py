"""Every write to teams: membership, opening hours, holidays and service modes."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db import transaction

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput

from .hours import note_config_change
from .models import BusinessHours, Holiday, ServiceMode, Team, validate_timezone


def do_create_team(
    *,
    name: str,
    slug: str,
    timezone: str = "UTC",
    region: str = "",
    country: str = "",
    actor: User | None = None,
) -> Team:
    validate_timezone(timezone)
    return Team.objects.create(
        name=name, slug=slug, timezone=timezone, region=region, country=country.upper()
    )


def do_add_team_member(
    team: Team, user: User, *, supervisor: bool = False, actor: User | None = None
) -> None:
    with transaction.atomic():
        if supervisor:
            team.supervisors.add(user)
        else:
            team.members.add(user)


def do_set_business_hours(
    team: Team, intervals: list[tuple[int, time, time]], *, actor: User | None = None
) -> None:
    """Replace the team's weekly hours: (weekday 0=Monday, opens, closes) in the team's own time
    zone; closes 00:00 means midnight. An empty list means open around the clock."""
    for weekday, opens, closes in intervals:
        if not 0 <= weekday <= 6:
            raise InvalidInput(f"weekday {weekday} is not 0 (Monday) … 6 (Sunday)")
        if closes != time(0, 0) and closes <= opens:
            raise InvalidInput(f"{opens:%H:%M}-{closes:%H:%M} closes before it opens")
    with transaction.atomic():
        BusinessHours.objects.filter(team=team).delete()
        BusinessHours.objects.bulk_create(
            BusinessHours(team=team, weekday=weekday, opens=opens, closes=closes)
            for weekday, opens, closes in intervals
        )
        note_config_change()


def do_add_holiday(team: Team, day: date, name: str, *, actor: User | None = None) -> Holiday:
    """A custom holiday for the team (idempotent per team and date)."""
    holiday, _ = Holiday.objects.update_or_create(team=team, date=day, defaults={"name": name})
    return holiday


def do_set_service_mode(
    team: Team, mode: str, *, until: datetime | None = None, actor: User | None = None
) -> Team:
    """Switch the team to normal, limited (urgent only) or closed service, optionally until a
    given instant. Routing reads it at its next decision."""
    if mode not in ServiceMode.values:
        raise InvalidInput(f"unknown service mode {mode!r}")
    Team.objects.filter(pk=team.pk).update(
        service_mode=mode, service_mode_until=until if mode != ServiceMode.NORMAL else None
    )
    note_config_change()
    team.refresh_from_db()
    return team
