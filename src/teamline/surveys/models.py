"""Satisfaction surveys after a conversation is resolved: the team's settings, one survey per
conversation, the customer's answer, and the per-customer quota that keeps surveys rare."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class SurveyKind(models.TextChoices):
    CSAT = "csat", "CSAT (1–5)"
    NPS = "nps", "NPS (0–10)"


# The scale of each kind: lowest and highest score.
SCALES = {SurveyKind.CSAT.value: (1, 5), SurveyKind.NPS.value: (0, 10)}

# Channels a survey can be sent on, each with its way of answering (docs/surveys.md).
SURVEY_CHANNELS = ("webchat", "sms", "whatsapp", "telegram", "email")


def default_channels() -> list[str]:
    return list(SURVEY_CHANNELS)


class SurveySettings(models.Model):
    """A team's surveys: which kinds, on which channels, how long after resolution, and how
    rarely one customer is asked. One row per team; no row = no surveys for the team. The team
    is the conversation's team when it is resolved."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="+")
    csat_enabled = models.BooleanField(default=True)
    nps_enabled = models.BooleanField(default=False)
    # A subset of SURVEY_CHANNELS: the customer's channel must be one of them.
    channels = models.JSONField(default=default_channels, blank=True)
    delay_minutes = models.PositiveIntegerField(
        default=10, validators=[MaxValueValidator(7 * 24 * 60)]
    )
    # At most one survey per customer in this many days (any kind).
    period_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(0), MaxValueValidator(3650)]
    )
    # A survey takes answers this long after it was sent.
    answer_hours = models.PositiveIntegerField(
        default=72, validators=[MinValueValidator(1), MaxValueValidator(30 * 24)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "survey settings"
        verbose_name_plural = "survey settings"

    def __str__(self) -> str:
        return f"Surveys of team {self.team_id}"


class SurveyState(models.TextChoices):
    SENT = "sent", "Sent"
    ANSWERED = "answered", "Answered"
    SKIPPED = "skipped", "Not sent"


def new_survey_token() -> str:
    return secrets.token_urlsafe(18)


class Survey(models.Model):
    """The survey decided for one resolved conversation: sent, or skipped with the reason.
    Unique per conversation, so a task run twice (a crash, a replay) never asks twice.
    `token` names the survey in buttons and links (unguessable, never a row id)."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    channel = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=16, choices=SurveyState.choices)
    reason = models.CharField(max_length=200, blank=True)
    token = models.CharField(max_length=32, unique=True, default=new_survey_token)
    message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "state", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} survey of conversation {self.conversation_id} ({self.state})"


class SurveyResponse(models.Model):
    """The customer's answer: one per survey (unique), never changed once recorded."""

    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="response")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    # How it came: webchat, sms, whatsapp, telegram, email.
    channel = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["team", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.score} on conversation {self.conversation_id}"


class SurveyQuota(models.Model):
    """When a customer was last sent a survey (and which kind): claimed by a conditional
    UPDATE, so two conversations resolved at once never both survey the customer."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_kind = models.CharField(max_length=8, blank=True)

    def __str__(self) -> str:
        return f"survey quota of customer {self.customer_id}"
