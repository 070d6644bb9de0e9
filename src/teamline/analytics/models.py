"""Analytics facts: one row per offered contact and a 15-minute fact table (docs/analytics.md).

A *contact* is a routing work item entering a *queue*; a queue is a team × channel kind
(chat, email, voice): the unit routing queues work in and the service-level target is set for.
A transfer into another queue ends the contact there (counted as a transfer) and offers a new
one to the new queue (`seq` + 1).

`ContactFact` is keyed by the contact's offered 15-minute interval (UTC) × team × queue ×
channel × agent. Its counters are only ever incremented, each by the action that records one
transition of one contact, in the transaction that makes the transition (analytics/actions.py):
a transition is recorded on the contact row with a conditional UPDATE, so it counts once.

Dimensions are plain integers and strings, not foreign keys: a deleted team, agent or
conversation (privacy erasure) leaves the figures intact, and "none" is 0 / "", not NULL, so
the unique key matches (an SQL unique index treats NULLs as distinct).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# Counters of a fact row, in one place: the upsert, the sums and the API all read this list.
FACT_COUNTERS = (
    "offered",
    "answered",
    "abandoned",
    "abandoned_short",
    "answered_in_threshold",
    "wait_sum",
    "abandon_wait_sum",
    "handled",
    "handle_sum",
    "wrap_up_sum",
    "transfers",
    "first_response_count",
    "first_response_sum",
    "resolved",
    "resolution_count",
    "resolution_sum",
    "repeated",
    "csat_sum",
    "csat_count",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
)


class ContactState(models.TextChoices):
    WAITING = "waiting", "Waiting for an answer"
    ANSWERED = "answered", "Answered"
    ABANDONED = "abandoned", "Abandoned"
    TRANSFERRED = "transferred", "Transferred to another queue before an answer"
    WITHDRAWN = "withdrawn", "Left the queue without an answer (snoozed, pending)"


class Contact(models.Model):
    """One offered contact (work item × queue). Transitions are conditional UPDATEs on this
    row (`answered_at IS NULL`, `resolved_at IS NULL`, …), so each is applied once."""

    work_item_id = models.BigIntegerField()
    seq = models.PositiveSmallIntegerField(default=0, help_text="0, then +1 per queue change")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    customer_id = models.BigIntegerField(default=0)
    team_id = models.BigIntegerField(default=0)
    queue = models.CharField(max_length=16, help_text="channel kind: chat, email, voice")
    channel = models.CharField(max_length=32, blank=True)
    agent_id = models.BigIntegerField(default=0, help_text="who answered (0: nobody yet)")
    threshold_seconds = models.PositiveIntegerField()
    state = models.CharField(
        max_length=16, choices=ContactState.choices, default=ContactState.WAITING
    )
    offered_at = models.DateTimeField()
    interval_start = models.DateTimeField(help_text="the offered 15-minute interval (UTC)")
    answered_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(
        null=True, blank=True, help_text="handling ended (resolved, call ended, transferred)"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="left this queue")
    wrap_up_seconds = models.PositiveIntegerField(default=0)
    transfers = models.PositiveSmallIntegerField(default=0)
    repeated = models.BooleanField(
        default=False, help_text="the customer came back within 7 days of the resolution"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["work_item_id", "seq"], name="contact_item_seq_unique")
        ]
        indexes = [
            models.Index(fields=["conversation", "-offered_at"], name="contact_conversation"),
            models.Index(fields=["customer_id", "resolved_at"], name="contact_customer_resolved"),
            models.Index(fields=["team_id", "offered_at"], name="contact_team_offered"),
        ]

    def __str__(self) -> str:
        return f"contact {self.work_item_id}/{self.seq} ({self.state})"


class ContactFact(models.Model):
    """Counters of one 15-minute interval (UTC start) × team × queue × channel × agent.

    Written only by analytics.actions with one `INSERT … ON CONFLICT DO UPDATE SET n = n + …`
    per transition (no read-modify-write, no lost update under concurrency). Offered and
    abandoned contacts are counted with agent 0 (nobody had them); what an agent did (answered,
    handled, resolved) on the agent's row."""

    interval_start = models.DateTimeField()
    team_id = models.BigIntegerField(default=0)
    queue = models.CharField(max_length=16)
    channel = models.CharField(max_length=32, blank=True)
    agent_id = models.BigIntegerField(default=0)
    offered = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    abandoned = models.IntegerField(default=0)
    abandoned_short = models.IntegerField(default=0, help_text="abandoned within 5 s")
    answered_in_threshold = models.IntegerField(default=0)
    wait_sum = models.BigIntegerField(default=0, help_text="seconds, answered contacts")
    abandon_wait_sum = models.BigIntegerField(default=0, help_text="seconds to abandon")
    handled = models.IntegerField(default=0)
    handle_sum = models.BigIntegerField(default=0, help_text="seconds, answered → resolved")
    wrap_up_sum = models.BigIntegerField(default=0)
    transfers = models.IntegerField(default=0)
    first_response_count = models.IntegerField(default=0)
    first_response_sum = models.BigIntegerField(default=0)
    resolved = models.IntegerField(default=0)
    resolution_count = models.IntegerField(default=0, help_text="resolved, asynchronous queues")
    resolution_sum = models.BigIntegerField(default=0, help_text="seconds, offered → resolved")
    repeated = models.IntegerField(default=0, help_text="resolved, then a new contact ≤ 7 days")
    csat_sum = models.IntegerField(default=0)
    csat_count = models.IntegerField(default=0)
    nps_promoters = models.IntegerField(default=0)
    nps_passives = models.IntegerField(default=0)
    nps_detractors = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["interval_start", "team_id", "queue", "channel", "agent_id"],
                name="contact_fact_key",
            )
        ]
        indexes = [
            models.Index(fields=["team_id", "interval_start"], name="contact_fact_team"),
            models.Index(fields=["agent_id", "interval_start"], name="contact_fact_agent"),
        ]

    def __str__(self) -> str:
        return f"facts {self.interval_start:%Y-%m-%d %H:%M} team {self.team_id} {self.queue}"


class FactLedger(models.Model):
    """Keys of one-off facts (a survey answer) already counted: the insert of
    the key and the counter's increment share a transaction, so a retry counts nothing."""

    key = models.CharField(max_length=200, unique=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class ReportSchedule(models.Model):
    """A weekly report by email (docs/analytics.md, "Reports"): the KPIs of `teams` (all in
    one time zone) and `channels` (none: every channel) for the seven local days before each
    send, by day, as the KPI CSV, mailed to `recipients` (staff who may see every one of the
    teams) on `weekday` at `hour` in the teams' time zone, in the owner's language.

    `next_run_at` (UTC) is the next send: the periodic job moves it one week on in the same
    transaction that records the week's ReportDelivery, so a week is owed once. Paused
    schedules keep their record but owe nothing; resuming owes the next moment from then."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_schedules"
    )
    teams = models.ManyToManyField("teams.Team", related_name="+")
    channels = models.JSONField(default=list, blank=True, help_text='e.g. ["webchat", "sms"]')
    weekday = models.PositiveSmallIntegerField(help_text="0 Monday … 6 Sunday")
    hour = models.PositiveSmallIntegerField(help_text="0-23, in the teams' time zone")
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    paused = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="UTC; empty: paused")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["paused", "next_run_at"], name="report_schedule_due")]

    def __str__(self) -> str:
        return f"report schedule {self.name} (weekday {self.weekday}, {self.hour}:00)"


class ReportDelivery(models.Model):
    """One week's email of a schedule, keyed by the moment it was due: the unique key makes the
    week owed once; `sent_at` (set by a conditional UPDATE right after the mail server took the
    message) makes it sent once. A worker sending it holds `claimed_until`; a claim that runs
    out (the worker died) lets the next run try again, up to MAX_ATTEMPTS."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "due_at"], name="report_delivery_once")
        ]
        indexes = [models.Index(fields=["sent_at", "due_at"], name="report_delivery_pending")]

    def __str__(self) -> str:
        return f"report {self.schedule_id} due {self.due_at:%Y-%m-%d %H:%M}"
