"""Proactive care's storage: the events the operator's systems send, the keys they sign
them with, the rules over them, the ledger of their firings and the notices sent.

An event is stored once per sender: `(sender, external_id)` is unique, so an id seen before is
a duplicate whatever its content (docs/proactive.md). The database is the truth and, in the
embedded mode, also the queue: `evaluated_at` is empty until rule evaluation has run over the
event (proactive/stream.py hands the same rows to a durable stream at scale).

A rule fires at most once per (rule, customer, dedupe key): RuleFiring's unique constraint
decides, so two workers evaluating the same event can never both act on it. Every attempt to
tell a customer something — sent, deferred to the end of quiet hours, suppressed by consent or
the rule's frequency cap, failed — is one Notice row, unique by its `key`, which the per-rule
counts are read from.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    USAGE = "usage", "Usage"
    BILLING = "billing", "Billing"
    NETWORK = "network", "Network"
    DEVICE = "device", "Device"
    CUSTOM = "custom", "Custom"


class IntegrationKey(models.Model):
    """A key an operator's system signs event batches with (HMAC-SHA256, docs/proactive.md).

    `key_id` is public (sent in a header); the secret is kept encrypted at rest (core/crypto)
    because the server must compute the same HMAC. A revoked key signs nothing any more. The
    key is also the *sender* its events' ids are unique within."""

    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=40, unique=True)
    secret_encrypted = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def sender(self) -> str:
        return f"key:{self.pk}"


class Event(models.Model):
    """One usage, billing, network, device or custom event, as the sender sent it.

    `sender` is "key:<IntegrationKey id>" or "user:<User id>" (a token's or session's user):
    ids are unique per sender, never across senders by accident. The customer the event named
    is kept as it was named (`identity_kind`, normalised `identity_value`) and `customer` is
    set when that identity is known — now or later (proactive.actions.do_match_waiting_events).
    `evaluated_at` is set once rule evaluation ran over the event (proactive/engine.py); events
    of unknown customers are evaluated when they are matched."""

    sender = models.CharField(max_length=40)
    external_id = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="proactive_events",
        # No index of its own: event_customer_time leads with the customer and answers every
        # lookup by customer. A second index cost one more random insertion per event at
        # ingest and at every rewrite of the row (docs/benchmarks.md, "Proactive events").
        db_index=False,
    )
    identity_kind = models.CharField(max_length=16)
    identity_value = models.CharField(max_length=320)
    region = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "external_id"], name="event_sender_id_unique")
        ]
        indexes = [
            # The embedded queue: events waiting for evaluation, oldest first.
            models.Index(
                fields=["id"],
                name="event_unevaluated",
                condition=Q(evaluated_at__isnull=True, customer__isnull=False),
            ),
            # Events waiting for their customer, found by the identity they named.
            models.Index(
                fields=["identity_kind", "identity_value"],
                name="event_waiting_identity",
                condition=Q(customer__isnull=True),
            ),
            models.Index(fields=["customer", "type", "occurred_at"], name="event_customer_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} event {self.external_id} from {self.sender}"


class FailedBatchState(models.TextChoices):
    RETRYING = "retrying", "Failed: tried again with backoff"
    PARKED = "parked", "Parked: waiting for an admin to replay it"
    RESOLVED = "resolved", "Evaluated after all"


class FailedBatch(models.Model):
    """A batch of events whose rule evaluation raised (a bug, a rule the engine cannot run, the
    database refusing): its events are held out of the queue (HeldEvent) so the rest of the
    stream flows, tried again with backoff, and after the last attempt tried one by one; those
    that still fail stay held, PARKED, until an admin replays them (proactive/deadletter.py).
    `error` is the last failure's type and message (emptied when the customer is erased: it
    may quote an event)."""

    state = models.CharField(
        max_length=16, choices=FailedBatchState.choices, default=FailedBatchState.RETRYING
    )
    attempts = models.PositiveIntegerField(default=1)
    events_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    parked_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "failed event batches"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="failed_batch_due")]

    def __str__(self) -> str:
        return f"failed batch {self.pk} ({self.state}, {self.events_count} events)"


class HeldEvent(models.Model):
    """An event taken out of the queue because its batch failed: evaluation skips it until
    its batch's retry or replay evaluates it (then the row goes)."""

    event = models.OneToOneField(
        Event, on_delete=models.CASCADE, primary_key=True, related_name="hold"
    )
    batch = models.ForeignKey(FailedBatch, on_delete=models.CASCADE, related_name="held")

    def __str__(self) -> str:
        return f"event {self.event_id} held by batch {self.batch_id}"


class Rule(models.Model):
    """A condition on an event and its customer, and what to do when it holds.

    `condition` is an expression (proactive/expressions.py) over the event's data and the
    customer; with `threshold` > 1 the rule fires when that many of the customer's matching
    events fall within `window_seconds`; `new_value_of` names a data field whose value must
    not have been seen in the customer's earlier events of this type ("roaming started in a
    new country"). `dedupe_key` is a template over the same names ("{period}": once per
    billing period); empty = once per event.
    """

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    enabled = models.BooleanField(default=False)
    # Built-in rules (the data-cap pair) carry a stable slug; user rules have none.
    builtin = models.CharField(max_length=32, null=True, blank=True, unique=True)
    event_type = models.CharField(max_length=16, blank=True, help_text="empty = any type")
    condition = models.TextField(max_length=1000)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    threshold = models.PositiveIntegerField(default=1)
    new_value_of = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)
    # Per-customer frequency cap over this rule's notices: at most cap_count per cap_seconds.
    cap_count = models.PositiveIntegerField(null=True, blank=True)
    cap_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Local quiet hours in the customer's time zone (start > end wraps midnight).
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    critical = models.BooleanField(default=False, help_text="ignores quiet hours")
    topic = models.CharField(max_length=32, default="promotional")
    # Actions.
    send_message = models.BooleanField(default=True)
    # The message: a gettext msgid for built-ins (translated by the catalogs), or the text an
    # admin typed with its translations {"nb": …} — both with {name} placeholders.
    message = models.TextField(blank=True, max_length=1000)
    translations = models.JSONField(default=dict, blank=True)
    whatsapp_template = models.CharField(max_length=100, blank=True)
    open_conversation = models.BooleanField(default=False)
    tag = models.CharField(max_length=50, blank=True)
    alert_supervisors = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class RuleFiring(models.Model):
    """The ledger: rule `rule` fired for `customer` under `dedupe_key` (unique together). The
    insert is the claim; everything the firing does is written in the same transaction."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="rule_firings"
    )
    dedupe_key = models.CharField(max_length=200)
    event_id_copy = models.BigIntegerField(null=True, blank=True)
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "customer", "dedupe_key"], name="rule_firing_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} for {self.customer_id} ({self.dedupe_key})"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred to the end of quiet hours"
    SUPPRESSED_CONSENT = "suppressed_consent", "Suppressed: no consent"
    SUPPRESSED_CAP = "suppressed_cap", "Suppressed: frequency cap"
    FAILED = "failed", "Failed"
    # Still pending or deferred when the customer's data was erased (proactive/erasure.py).
    CANCELLED = "cancelled", "Cancelled: the customer's data was erased"


class Notice(models.Model):
    """One proactive notice to one customer and what became of it (proactive/delivery.py).

    `key` is unique: asking twice for the same notice (a retried batch, an outage's notices
    sent again) finds the first. A DEFERRED notice has a task that sends it at
    `deferred_until`; `was_deferred` stays set after it went out, for the counts.
    """

    key = models.CharField(max_length=200, unique=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="notices"
    )
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices"
    )
    # "rule" or "outage"; source_id is the outage's id (outages live in their own module).
    source = models.CharField(max_length=16)
    source_id = models.BigIntegerField(null=True, blank=True)
    source_name = models.CharField(max_length=200)
    topic = models.CharField(max_length=32)
    critical = models.BooleanField(default=False)
    template = models.TextField(blank=True)
    texts = models.JSONField(default=dict, blank=True)
    values = models.JSONField(default=dict, blank=True)
    whatsapp_template = models.CharField(max_length=100, blank=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.PENDING
    )
    reason = models.TextField(blank=True)
    deferred_until = models.DateTimeField(null=True, blank=True)
    was_deferred = models.BooleanField(default=False)
    channel = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=16, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["rule", "status"], name="notice_rule_status"),
            models.Index(
                fields=["rule", "customer", "created_at"],
                name="notice_cap",
                condition=Q(rule__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_name} to {self.customer_id}: {self.status}"


# --- Outages (proactive/outages.py, proactive/detection.py) ------------------------------------


class OutageSource(models.TextChoices):
    DESK = "desk", "A supervisor on the desk"
    API = "api", "The API"
    NETWORK = "network", "A network event"
    SUSPECTED = "suspected", "A confirmed suspected outage"


class Outage(models.Model):
    """A known outage in one or more regions. Active while `ended_at` is empty. Customers of a
    region are those whose `region` matches one of `regions` case-insensitively (OutageRegion
    holds the folded keys, indexed). Written only by proactive.outages (do_declare_outage,
    do_end_outage)."""

    title = models.CharField(max_length=200)
    message = models.TextField(help_text="What affected customers are told.")
    regions = models.JSONField(default=list, help_text="As declared.")
    critical = models.BooleanField(default=False, help_text="Notices ignore quiet hours.")
    expected_end = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=OutageSource.choices)
    source_ref = models.CharField(max_length=200, blank=True, help_text="e.g. the event id")
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    follow_up = models.TextField(
        blank=True, help_text="What notified customers are told at the end."
    )

    class Meta:
        indexes = [models.Index(fields=["ended_at", "started_at"], name="outage_active")]

    def __str__(self) -> str:
        return self.title

    @property
    def active(self) -> bool:
        return self.ended_at is None


class OutageRegion(models.Model):
    """One region of an outage, folded (casefold, trimmed): what customers' and teams'
    regions are matched against."""

    outage = models.ForeignKey(Outage, on_delete=models.CASCADE, related_name="region_keys")
    key = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["outage", "key"], name="outage_region_once"),
        ]
        indexes = [models.Index(fields=["key"], name="outage_region_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.outage_id})"


class OutageContact(models.Model):
    """A contact (a conversation routed to the team) from a region while its outage was
    active: routing tags it, the desk shows it, and its customer gets the follow-up."""

    outage = models.ForeignKey(Outage, on_delete=models.CASCADE, related_name="contacts")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="outage_tags"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="outage_contacts"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["outage", "conversation"], name="outage_contact_once"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} during outage {self.outage_id}"


class SignalSource(models.TextChoices):
    CONTACTS = "contacts", "Contacts saying there is no signal or no data"
    NETWORK = "network", "Network events"


class SignalCount(models.Model):
    """How many signals of one source one place gave in one bucket (BUCKET_SECONDS long,
    proactive.detection): the counts the suspected-outage test compares. `site` is "" for
    the region as a whole. Incremented with F() (unique on the four keys)."""

    region = models.CharField(max_length=100)  # folded
    label = models.CharField(max_length=100)  # the region as first spelled
    site = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=SignalSource.choices)
    bucket = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "site", "source", "bucket"], name="signal_count_once"
            ),
        ]
        indexes = [models.Index(fields=["bucket"], name="signal_count_bucket")]

    def __str__(self) -> str:
        return f"{self.source} in {self.region}/{self.site} at {self.bucket}: {self.count}"


class SuspicionState(models.TextChoices):
    OPEN = "open", "Waiting for a supervisor"
    CONFIRMED = "confirmed", "Confirmed: an outage"
    DISMISSED = "dismissed", "Dismissed"


class SuspectedOutage(models.Model):
    """A place whose signals rose significantly above its own baseline (proactive.detection):
    supervisors confirm it (an outage is declared) or dismiss it. At most one open per place
    and source (unique while open)."""

    region = models.CharField(max_length=100)  # folded
    region_label = models.CharField(max_length=100)  # as customers' records spell it
    site = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=SignalSource.choices)
    observed = models.PositiveIntegerField()
    expected = models.FloatField()
    p_value = models.FloatField()
    window_start = models.DateTimeField()
    raised_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        max_length=16, choices=SuspicionState.choices, default=SuspicionState.OPEN
    )
    outage = models.ForeignKey(
        Outage, null=True, blank=True, on_delete=models.SET_NULL, related_name="suspicions"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "site", "source"],
                condition=models.Q(state="open"),
                name="suspected_outage_open_once",
            ),
        ]

    def __str__(self) -> str:
        return f"suspected outage in {self.region_label} ({self.state})"


class DetectionCursor(models.Model):
    """How far the detector has read a stream (the last inbound message id counted), so each
    contact is counted once across ticks and workers (advanced with a conditional UPDATE)."""

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"
