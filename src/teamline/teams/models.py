"""Regional teams: the people a customer sees and is served by, with their opening hours,
holiday calendar and service mode (see teams/hours.py for the clock arithmetic)."""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as dj_timezone


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone") from exc


def validate_country(value: str) -> None:
    if not value:
        return
    import holidays

    if value.upper() not in holidays.list_supported_countries():
        raise ValidationError(f"{value!r} is not a country the holidays calendar knows")


class ServiceMode(models.TextChoices):
    """How humans serve a team's customers right now."""

    NORMAL = "normal", "Normal"
    # Humans take only urgent items; everybody else gets self-service and an honest promise.
    LIMITED = "limited", "Urgent matters only"
    CLOSED = "closed", "Closed"


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    region = models.CharField(max_length=100, blank=True, help_text="e.g. NO-03 or Guangdong")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    photo = models.ImageField(upload_to="teams/", blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="supervised_teams", blank=True
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    # --- Hours, holidays and service mode (routing reads them through teams/hours.py) -----
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[validate_country],
        help_text="ISO country code for public holidays (e.g. NO, CN); empty = none",
    )
    subdivision = models.CharField(
        max_length=10, blank=True, help_text="optional holiday subdivision (state, province)"
    )
    service_mode = models.CharField(
        max_length=16,
        choices=ServiceMode.choices,
        default=ServiceMode.NORMAL,
        help_text="set by a supervisor; inside opening hours only",
    )
    service_mode_until = models.DateTimeField(
        null=True, blank=True, help_text="when a limited/closed mode ends by itself (optional)"
    )
    holiday_mode = models.CharField(
        max_length=16,
        choices=[(ServiceMode.LIMITED, "Urgent matters only"), (ServiceMode.CLOSED, "Closed")],
        default=ServiceMode.CLOSED,
        help_text="how the team serves on public and custom holidays during its hours",
    )
    fallback_team = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="who serves this team's customers while it is closed (e.g. a 24/7 team)",
    )
    # --- Surge thresholds (routing widens overflow and alerts supervisors past them) -------
    surge_queue_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="surge when this many items wait for the team"
    )
    surge_wait_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="surge when the longest wait passes this"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class BusinessHours(models.Model):
    """One opening interval of a team on one weekday, in the team's own time zone. Several rows
    per day make split shifts. A team without any row is open around the clock.
    `closes` 00:00 means until midnight."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["team", "weekday", "opens"]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.closes.hour == 0 and self.closes.minute == 0:
            return
        if self.closes <= self.opens:
            raise ValidationError("An interval closes after it opens (use 00:00 for midnight).")


class Holiday(models.Model):
    """A custom holiday of one team (in its own time zone), on top of its country's public
    holidays: the team serves in its holiday mode that whole local day."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["team", "date"]
        constraints = [
            models.UniqueConstraint(fields=["team", "date"], name="holiday_team_date_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class CalendarEntryKind(models.TextChoices):
    HOLIDAY = "holiday", "Holiday"
    # A day worked although it is usually off (mainland China moves weekend days around Golden
    # Week and the Spring Festival).
    WORKING_DAY = "working_day", "Make-up working day"


# An official calendar entry covers at most this many days (a typo in a year must not become a
# year-long holiday silently).
MAX_ENTRY_DAYS = 31


def new_entry_uid() -> str:
    return f"{uuid.uuid4()}@teamline"


class CalendarEntry(models.Model):
    """A period of a team's official calendar, on top of its country's public holidays: holidays
    (the team serves in its holiday mode) or make-up working days (the team works with the hours
    of a weekday). Declared by an admin or imported from an ICS file; `uid` is the event's UID,
    so importing the same file again changes nothing (teams/calendar_import.py)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="calendar_entries")
    uid = models.CharField(
        "UID", max_length=255, default=new_entry_uid, help_text="the calendar event's UID"
    )
    kind = models.CharField(max_length=16, choices=CalendarEntryKind.choices)
    name = models.CharField(max_length=200)
    first_day = models.DateField("first day")
    last_day = models.DateField("last day", help_text="inclusive")
    hours_of = models.PositiveSmallIntegerField(
        "with the hours of",
        choices=Weekday.choices,
        null=True,
        blank=True,
        help_text="make-up working days: the weekday whose hours apply "
        "(empty: the team's usual weekday hours)",
    )
    source = models.CharField(
        max_length=200, blank=True, help_text="the calendar it was imported from"
    )

    class Meta:
        ordering = ["team", "first_day"]
        verbose_name = "official calendar entry"
        verbose_name_plural = "official calendar entries"
        constraints = [
            models.UniqueConstraint(fields=["team", "uid"], name="calendar_entry_team_uid_unique"),
            models.CheckConstraint(
                condition=models.Q(last_day__gte=models.F("first_day")),
                name="calendar_entry_days_in_order",
            ),
        ]

    def __str__(self) -> str:
        days = str(self.first_day)
        if self.last_day != self.first_day:
            days += f" – {self.last_day}"
        return f"{days} {self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        if self.first_day and self.last_day:
            if self.last_day < self.first_day:
                raise ValidationError("The last day comes on or after the first day.")
            if (self.last_day - self.first_day).days >= MAX_ENTRY_DAYS:
                raise ValidationError(f"An entry covers at most {MAX_ENTRY_DAYS} days.")
