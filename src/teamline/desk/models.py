"""What the desk itself remembers: which suggested article an agent put into a reply.

Everything else the desk shows belongs to the apps below it; this row exists so the knowledge
base's owners can see which articles agents actually use (docs/selfservice.md,
"Suggestions")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SuggestionHow(models.TextChoices):
    LINK = "link", "Inserted the link"
    ANSWER = "answer", "Inserted the answer"


class SuggestionUse(models.Model):
    """An agent inserted a suggested article's link or text into their reply box."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    article = models.ForeignKey("knowledge.Article", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    how = models.CharField(max_length=8, choices=SuggestionHow.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["article", "created_at"], name="suggestion_use_article")]

    def __str__(self) -> str:
        return f"{self.how} of article {self.article_id} in #{self.conversation_id}"


class WallboardScreen(models.Model):
    """A read-only wallboard for a TV on the contact-center floor: its own URL with a secret
    token, no staff session. Only the token's SHA-256 is stored (the URL is shown once, when it
    is made); it shows the teams chosen when it was made, and stops when it is revoked
    (desk/wallboard_actions.py). A revoked screen stays as the record of who made and ended it."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    teams = models.ManyToManyField("teams.Team", related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["revoked_at", "created_at"], name="wallboard_screen_live")]

    def __str__(self) -> str:
        return f"wallboard screen {self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
