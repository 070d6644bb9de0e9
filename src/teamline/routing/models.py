"""Routing state: work items (the queue, the truth), their queue entries (the index agents are
matched against), per-inbox routing policies with ordered steps, service-level targets,
customers' routing preferences and surge episodes.

Lock order everywhere in routing: agent profile → conversation → customer → work item
(→ its queue entries). See routing/actions.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WorkKind(models.TextChoices):
    CONVERSATION = "conversation", "Conversation"
    CALLBACK = "callback", "Callback"
    APPOINTMENT = "appointment", "Appointment"


class WorkState(models.TextChoices):
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    DONE = "done", "Done"
    ABANDONED = "abandoned", "Abandoned"


LIVE_STATES = (WorkState.QUEUED, WorkState.ASSIGNED)


class StepKind(models.TextChoices):
    LAST_AGENT = "last_agent", "Last agent"
    HOME_TEAM = "home_team", "Home team"
    OVERFLOW_TEAMS = "overflow_teams", "Overflow teams"
    NATIONAL_POOL = "national_pool", "National pool"
    AFTER_HOURS = "after_hours", "After hours"


class PoolScope(models.TextChoices):
    AGENT = "agent", "One agent"
    TEAMS = "teams", "Teams"
    ALL = "all", "Every team"


def default_give_back_kinds() -> list[str]:
    return ["chat", "voice"]


class RoutingPolicy(models.Model):
    """How an inbox's work finds a human: its ordered steps plus what the work requires.
    A policy without an inbox is the organisation's default; without any policy the engine's
    built-in default applies (last agent 60 s → home team 180 s → overflow → after hours)."""

    inbox = models.OneToOneField(
        "conversations.Inbox",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_policy",
        help_text="empty = the default policy for inboxes without their own",
    )
    name = models.CharField(max_length=100)
    required_skills = models.JSONField(
        default=dict, blank=True, help_text='skills this inbox\'s work needs, e.g. {"billing": 2}'
    )
    match_language = models.BooleanField(
        default=True, help_text="agents must speak the customer's language"
    )
    language_relax_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=300,
        help_text="after this wait any language will do (empty = never)",
    )
    give_back_kinds = models.JSONField(
        default=default_give_back_kinds,
        blank=True,
        help_text='channel kinds an agent who goes offline gives back, e.g. ["chat", "voice"] '
        "(email threads stay theirs)",
    )
    offline_grace_seconds = models.PositiveIntegerField(
        default=60, help_text="how long an agent may be offline before giving work back"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "routing policies"

    def __str__(self) -> str:
        return self.name


class RoutingStep(models.Model):
    """One step of a policy. An item waits in a step until an eligible agent is free, the step
    times out, or its conditions end it; each step widens the pool of the steps before."""

    policy = models.ForeignKey(RoutingPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="move on after this wait (empty = wait here)"
    )
    skip_when_closed = models.BooleanField(
        default=True, help_text="skip the step while its team(s) do not serve the item"
    )
    leave_when_saturated = models.BooleanField(
        default=True,
        help_text="move on early when the team has nobody online for the item or is in surge",
    )
    only_when_saturated = models.BooleanField(
        default=False, help_text="use the step only while the home team is saturated"
    )
    required_skills = models.JSONField(
        default=dict, blank=True, help_text="extra skills this step requires"
    )
    min_proficiency = models.PositiveSmallIntegerField(
        default=1, help_text="minimum proficiency (1-5) in every required skill"
    )
    target_teams = models.ManyToManyField(
        "teams.Team",
        blank=True,
        related_name="+",
        help_text="overflow teams (empty = every other team with the skills)",
    )

    class Meta:
        ordering = ["policy", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_kind_display()}"


class ServiceLevelTarget(models.Model):
    """`percent` of items of a channel kind and priority answered within `seconds`. Aging orders
    the queue by these deadlines, so nothing starves."""

    channel_kind = models.CharField(max_length=16)
    priority = models.IntegerField(default=0, help_text="-1 low, 0 normal, 1 high, 2 urgent")
    percent = models.PositiveSmallIntegerField(default=80)
    seconds = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_kind", "priority"], name="service_level_kind_priority_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_kind}/{self.priority}: {self.percent} % in {self.seconds} s"


class CustomerRoutingPreference(models.Model):
    """A customer's stored routing choices, honoured by the engine."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="routing_preference"
    )
    opt_out_of_team = models.BooleanField(
        default=False, help_text="route to the general pool instead of the dedicated team"
    )
    opt_out_of_bots = models.BooleanField(
        default=False, help_text="always straight to a human queue, no self-service"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"preferences of customer #{self.customer_id}"


class WorkItem(models.Model):
    """A contact that needs a human. The row is the truth: whatever process dies, the periodic
    tick finds queued items and decides again.

    Claimed with conditional UPDATEs (`state = queued AND version = v`); at most one live
    (queued or assigned) item per conversation.
    """

    kind = models.CharField(max_length=16, choices=WorkKind.choices, default=WorkKind.CONVERSATION)
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="work_items",
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    policy = models.ForeignKey(
        RoutingPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel_kind = models.CharField(max_length=16, default="chat")
    priority = models.IntegerField(default=0)
    vip = models.BooleanField(default=False)
    required_skills = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=16, blank=True)
    home_team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bots_allowed = models.BooleanField(default=True)
    # Skills the current step needs (inbox + item + step, at the step's minimum proficiency).
    needed_skills = models.JSONField(default=dict, blank=True)
    opt_out_of_team = models.BooleanField(default=False)
    # Where the item stands in its policy.
    step_index = models.PositiveSmallIntegerField(default=0)
    step_kind = models.CharField(max_length=20, blank=True)
    step_entered_at = models.DateTimeField(default=timezone.now)
    scope = models.CharField(max_length=8, choices=PoolScope.choices, default=PoolScope.TEAMS)
    next_check_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    promised_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=WorkState.choices, default=WorkState.QUEUED)
    enqueued_at = models.DateTimeField(default=timezone.now)
    # Aging key: enqueued_at + service-level target − priority head start (earliest first).
    rank_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # Agents who declined the item when it was offered to them (rejected a ringing call, or
    # let it ring out): routing does not offer it to them again (routing/declines.py).
    declined_by = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(state__in=["queued", "assigned"]),
                name="work_item_one_live_per_conversation",
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_check_at"], name="work_item_due"),
            models.Index(fields=["state", "rank_at"], name="work_item_rank"),
            models.Index(fields=["home_team", "state", "enqueued_at"], name="work_item_team_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"


class QueueEntry(models.Model):
    """The queue index: one row per pool a queued item is currently offered to (its sticky
    agent, each team, or every team). Agents are matched against entries with bounded, indexed
    queries, so offering work costs the same whatever the queue length. Rewritten with the
    item's placement; deleted when it leaves the queue."""

    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="entries")
    team = models.ForeignKey("teams.Team", null=True, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    channel_kind = models.CharField(max_length=16)
    # Scope "every team" except this one (a customer who opted out of their own team).
    excluded_team = models.ForeignKey(
        "teams.Team", null=True, on_delete=models.CASCADE, related_name="+"
    )
    # The language agents must speak (engine.primary_language: one of the six, else the tag's
    # primary subtag), or "" when any will do.
    language = models.CharField(max_length=16, blank=True)
    rank_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["team", "channel_kind", "rank_at"], name="queue_entry_team"),
            models.Index(fields=["agent", "channel_kind", "rank_at"], name="queue_entry_agent"),
            models.Index(fields=["channel_kind", "rank_at"], name="queue_entry_kind"),
        ]

    def __str__(self) -> str:
        return f"entry of item #{self.work_item_id}"


class SurgeEpisode(models.Model):
    """A period in which a team's queue passed its surge thresholds. At most one open episode
    per team (unique), which makes starting one race-free and alerts fire once."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    queue_length = models.PositiveIntegerField(default=0)
    longest_wait_seconds = models.PositiveIntegerField(default=0)
    peak_queue_length = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=Q(ended_at__isnull=True), name="surge_one_open_per_team"
            )
        ]

    def __str__(self) -> str:
        return f"surge of team #{self.team_id} from {self.started_at:%Y-%m-%d %H:%M}"


# --- Virtual hold and scheduled contacts -----------------------------------------------------


class CallbackState(models.TextChoices):
    QUEUED = "queued", "Waiting for its turn"
    ASSIGNED = "assigned", "With an agent"
    DONE = "done", "Call done"
    FAILED = "failed", "Not reached"
    CANCELLED = "cancelled", "Cancelled"


LIVE_CALLBACK_STATES = (CallbackState.QUEUED, CallbackState.ASSIGNED)


class Callback(models.Model):
    """A customer asked to be called back instead of waiting (virtual hold).

    The callback *is* the conversation's queued work item, turned into kind `callback` and
    channel kind `voice` with its enqueue time and rank unchanged, so it keeps its place in
    line and is claimed like any conversation (voice capacity). While it lives the
    conversation's `channel_kind` is `voice` (so agents' voice load counts it) and is put back
    to `original_channel_kind` when the work item closes. At most one live callback per
    conversation (unique)."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField(max_length=32, help_text="E.164")
    state = models.CharField(
        max_length=16, choices=CallbackState.choices, default=CallbackState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="calls not answered")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    original_channel_kind = models.CharField(max_length=16, default="chat")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(state__in=["queued", "assigned"]),
                name="callback_one_live_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"callback #{self.pk} to {self.phone} ({self.state})"


class AppointmentKind(models.TextChoices):
    CALL = "call", "Call"
    CHAT = "chat", "Chat"


class AppointmentState(models.TextChoices):
    BOOKED = "booked", "Booked"
    STARTED = "started", "In routing"
    DONE = "done", "Done"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


LIVE_APPOINTMENT_STATES = (AppointmentState.BOOKED, AppointmentState.STARTED)


class Appointment(models.Model):
    """A slot a customer booked with their team (a call or a chat at a chosen time).

    Each booking holds one *seat* of its team's slot: (team, slot_start, seat) is unique among
    live appointments, and seats are numbered 0 … capacity − 1, so two customers can never take
    the last seat of a slot (the database refuses the second insert). At the slot the periodic
    job puts the customer's conversation into routing at high priority for the chosen agent
    (sticky step) and team; see routing/appointments.py."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=AppointmentKind.choices)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164, for calls")
    slot_start = models.DateTimeField()
    slot_end = models.DateTimeField()
    seat = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(
        max_length=16, choices=AppointmentState.choices, default=AppointmentState.BOOKED
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="calls not answered")
    original_channel_kind = models.CharField(max_length=16, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "slot_start", "seat"],
                condition=Q(state__in=["booked", "started"]),
                name="appointment_one_per_seat",
            )
        ]
        indexes = [
            models.Index(fields=["state", "slot_start"], name="appointment_due"),
            models.Index(fields=["customer", "state"], name="appointment_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} appointment #{self.pk} at {self.slot_start:%Y-%m-%d %H:%M}"
