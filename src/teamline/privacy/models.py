"""What privacy keeps for itself: the tombstone of each erasure, each inbox's retention rule
and the day's retention run.

An `Erasure` is the fact that a customer was erased, kept after the erasure by design: the
customer's id, when it was asked for and by whom, when it was done and what it removed
(counts only). It names the customer by id, not by a foreign key, so it outlives any later
removal of the anonymised customer row."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

# A retention rule keeps message bodies at least a day and at most a hundred years.
MAX_RETENTION_DAYS = 36_500


class ErasureState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    DONE = "done", "Done"


class Erasure(models.Model):
    """One per customer (unique): asking again finds the same row, so a repeated request
    erases once. `state` moves requested → done by a conditional update in the task."""

    customer_id_copy = models.BigIntegerField(unique=True)
    state = models.CharField(
        max_length=16, choices=ErasureState.choices, default=ErasureState.REQUESTED
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # The staff member by id and name at the time: the tombstone outlives users.
    requested_by_id = models.PositiveBigIntegerField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # What went, in numbers: {"identities": 2, "message_bodies": 14, "attachments": 1, …}.
    removed = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"erasure of customer #{self.customer_id_copy} ({self.state})"


class RetentionPolicy(models.Model):
    """How long an inbox keeps message bodies: after `message_body_days` a message's text,
    structured content and attachments are deleted by the daily job; the message row (its
    time, direction, channel, delivery outcome) stays for the figures."""

    inbox = models.OneToOneField(
        "conversations.Inbox", on_delete=models.CASCADE, related_name="retention_policy"
    )
    message_body_days = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Delete message texts and attachments older than this many days.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.inbox_id}: {self.message_body_days} days"


class RetentionRun(models.Model):
    """The retention job of one day (unique per day): the periodic job is enqueued every
    slot, and only the first of the day that claims `claimed_until` does the work; a worker
    that died mid-run leaves the claim to expire and the next slot finishes it (every batch
    is idempotent)."""

    day = models.DateField(unique=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    messages_cleared = models.PositiveIntegerField(default=0)
    attachments_deleted = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"retention of {self.day}"
