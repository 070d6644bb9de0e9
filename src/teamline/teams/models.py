"""Regional teams: the people a customer sees and is served by."""

from __future__ import annotations

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

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
