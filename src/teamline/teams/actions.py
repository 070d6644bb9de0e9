"""Every write to teams: membership, opening hours, holidays and service modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db import transaction

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput

from .calendar_import import parse_official_calendar
from .hours import note_config_change
from .models import BusinessHours, CalendarEntry, Holiday, ServiceMode, Team, validate_timezone


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


def do_remove_team_member(
    team: Team, user: User, *, supervisor: bool = False, actor: User | None = None
) -> None:
    with transaction.atomic():
        if supervisor:
            team.supervisors.remove(user)
        else:
            team.members.remove(user)


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


@dataclass
class CalendarImport:
    """What an import did: counts of entries, and the events it could not take, with why."""

    calendar_name: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def summary(self) -> str:
        name = self.calendar_name or "the calendar"
        text = (
            f"Imported {name}: {self.created} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.removed} removed"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped: " + "; ".join(self.skipped)
        return text + "."


def do_import_team_calendar(
    team: Team, ics_bytes: bytes, *, actor: User | None, source: str = ""
) -> CalendarImport:
    """Import a team's official calendar (holidays and make-up working days) from an ICS file,
    on top of its country's public holidays. Entries are keyed by the event UID: the same file
    imported again changes nothing; a changed event updates its entry (keeping the weekday
    hours an admin chose for a working day); a cancelled event removes it. Raises InvalidInput
    for a file that is not a calendar. Locks the team row, so two imports of one team run one
    after the other. Routing sees the change at its next decision (config caches are bumped)."""
    parsed = parse_official_calendar(ics_bytes)
    source = (source or parsed.name)[:200]
    result = CalendarImport(calendar_name=parsed.name, skipped=parsed.skipped)
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        existing = {
            entry.uid: entry
            for entry in CalendarEntry.objects.filter(
                team=team, uid__in=[entry.uid for entry in parsed.entries]
            )
        }
        for entry in parsed.entries:
            row = existing.get(entry.uid)
            if entry.cancelled:
                if row is not None:
                    row.delete()
                    result.removed += 1
                continue
            values = {
                "kind": entry.kind,
                "name": entry.name,
                "first_day": entry.first_day,
                "last_day": entry.last_day,
                "source": source,
            }
            if row is None:
                CalendarEntry.objects.create(team=team, uid=entry.uid, **values)
                result.created += 1
            elif any(getattr(row, key) != value for key, value in values.items()):
                CalendarEntry.objects.filter(pk=row.pk).update(**values)
                result.updated += 1
            else:
                result.unchanged += 1
        if result.changed:
            note_config_change()
    return result
