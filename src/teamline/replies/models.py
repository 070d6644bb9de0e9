"""Canned replies: ready answers an agent inserts into the reply box, in several languages.

A reply is personal (its owner's), a team's (its team's members and supervisors), or global
(everyone's). `texts` maps a language of core.languages (en, nb, zh-hans, zh-hant, et, pt) to
the text in it; the variables it may hold are replies.rendering.VARIABLES. Changed only by
replies.actions, which checks who may write which scope and that every variable is known.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Scope(models.TextChoices):
    PERSONAL = "personal", "Personal"
    TEAM = "team", "Team"
    GLOBAL = "global", "Global"


class CannedReply(models.Model):
    scope = models.CharField(max_length=16, choices=Scope.choices)
    # Exactly one of owner (personal) and team (team) is set; neither for a global reply.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_replies",
    )
    team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField(max_length=100)
    # What follows `/` in the reply box to find it quickly ("hours", "reset-router").
    shortcut = models.CharField(max_length=32, blank=True)
    # {language: text}; at least one language.
    texts = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "canned replies"
        ordering = ["title", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="personal", owner__isnull=False, team__isnull=True)
                    | Q(scope="team", owner__isnull=True, team__isnull=False)
                    | Q(scope="global", owner__isnull=True, team__isnull=True)
                ),
                name="canned_reply_scope_owner_team",
            )
        ]
        indexes = [
            models.Index(fields=["scope", "owner"], name="canned_reply_scope_owner"),
            models.Index(fields=["scope", "team"], name="canned_reply_scope_team"),
        ]

    def __str__(self) -> str:
        return self.title
