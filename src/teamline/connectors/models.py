"""Inboxes: one configured channel account each (a web chat widget, later a number, a mailbox…)."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone


class InboxKind(models.TextChoices):
    WEBCHAT = "webchat", "Web chat"


def new_inbox_secret() -> str:
    return secrets.token_urlsafe(32)


class Inbox(models.Model):
    # What the embed snippet and public URLs carry, so inboxes cannot be enumerated.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=InboxKind.choices, default=InboxKind.WEBCHAT)
    default_team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="inboxes")
    # Key for verified identities (HMAC-SHA256 of the brand's user id). Shown only once in the
    # admin change form, never in lists, logs or the API.
    secret = models.CharField(max_length=128, default=new_inbox_secret)
    # Brand pages allowed to embed the widget (Origin check on the widget socket); empty = any.
    allowed_origins = models.JSONField(default=list, blank=True)
    greeting = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"
