"""What Teamline measures about an agent's wellbeing (docs/analytics.md, "Wellbeing").

Only aggregates: a handled conversation's customer-sentiment mean (not the messages), one row
per minute of typing rhythm for agents who opted in (ratios and a variance, never the keys),
and the alerts raised. Presence history and handle times are read from accounts and analytics,
not copied. Retention (tasks.purge_wellbeing): typing minutes 24 hours, moods and alerts 30
days.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Signal(models.TextChoices):
    NEGATIVE_RUN = "negative_run", "Run of negative conversations"
    NO_BREAK = "no_break", "Time since last break"
    LONG_HANDLE = "long_handle", "Handle time above own norm"
    TYPING_STRAIN = "typing_strain", "Typing strain"


class WellbeingSettings(models.Model):
    """A team's thresholds (a team without a row uses the defaults below). An agent in several
    teams is measured against the team they joined first (lowest id)."""

    team = models.OneToOneField(
        "teams.Team", on_delete=models.CASCADE, related_name="wellbeing_settings"
    )
    enabled = models.BooleanField(default=True)
    negative_run = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(2), MaxValueValidator(20)],
        help_text="consecutive handled conversations with negative customer sentiment",
    )
    negative_mean = models.FloatField(
        default=-1.0,
        validators=[MinValueValidator(-5.0), MaxValueValidator(0.0)],
        help_text="a conversation is negative when its messages' mean score is at most this",
    )
    break_minutes = models.PositiveSmallIntegerField(
        default=120,
        validators=[MinValueValidator(15), MaxValueValidator(600)],
        help_text="minutes of work without a break of at least `min_break_minutes`",
    )
    min_break_minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    handle_factor = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(1.2), MaxValueValidator(10.0)],
        help_text="a handle time this many times the agent's own median (last 30 days)",
    )
    typing_corrections = models.FloatField(
        default=0.25,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="mean share of corrections over the last 10 typed minutes",
    )
    cooldown_minutes = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(480)],
        help_text="the same signal is not raised again for the same agent within this",
    )

    def __str__(self) -> str:
        return f"wellbeing settings of team {self.team_id}"


class AgentWellbeing(models.Model):
    """The agent's own choice: typing rhythm is measured only while `typing_opt_in` is on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wellbeing"
    )
    typing_opt_in = models.BooleanField(default=False)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"wellbeing of {self.user_id} (typing {'on' if self.typing_opt_in else 'off'})"


class ConversationMood(models.Model):
    """One handled conversation's customer sentiment, for the agent who handled it. One row per
    resolution (a reopened and resolved-again conversation adds one for its new messages)."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation_id = models.BigIntegerField()
    resolved_at = models.DateTimeField()
    messages = models.PositiveIntegerField(help_text="customer text messages read")
    score_sum = models.FloatField()
    mean = models.FloatField()
    negative = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation_id", "resolved_at"], name="wellbeing_mood_once"
            )
        ]
        indexes = [
            models.Index(fields=["agent", "-resolved_at"], name="wellbeing_mood_agent"),
            models.Index(fields=["resolved_at"], name="wellbeing_mood_time"),
        ]

    def __str__(self) -> str:
        return f"mood {self.mean:+.2f} of conversation {self.conversation_id}"


class TypingMinute(models.Model):
    """One minute of an opted-in agent's typing, as the desk aggregated it in the browser:
    counts and ratios only. Kept 24 hours."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField(help_text="the minute's start (UTC), as the server saw it")
    keys = models.PositiveIntegerField()
    corrections_ratio = models.FloatField()
    pause_variance = models.FloatField(help_text="variance of pauses between keys, seconds²")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "minute"], name="wellbeing_typing_minute")
        ]
        indexes = [models.Index(fields=["minute"], name="wellbeing_typing_time")]

    def __str__(self) -> str:
        return f"typing of {self.agent_id} at {self.minute:%H:%M}"


class WellbeingAlert(models.Model):
    """A signal past its threshold: a private suggestion to the agent and an alert to the
    supervisors of the agent's teams. The agent dismisses the suggestion; a supervisor
    acknowledges the alert. Kept 30 days."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    signal = models.CharField(max_length=16, choices=Signal.choices)
    value = models.FloatField()
    threshold = models.FloatField()
    created_at = models.DateTimeField()
    dismissed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(fields=["agent", "signal", "-created_at"], name="wellbeing_alert_agent"),
            models.Index(fields=["created_at"], name="wellbeing_alert_time"),
        ]

    def __str__(self) -> str:
        return f"{self.signal} for {self.agent_id} at {self.created_at:%Y-%m-%d %H:%M}"
