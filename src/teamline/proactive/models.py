"""Proactive care's storage: the events the operator's systems send, and the keys they sign
them with.

An event is stored once per sender: `(sender, external_id)` is unique, so an id seen before is
a duplicate whatever its content (docs/proactive.md). The database is the truth and, in the
embedded mode, also the queue: `evaluated_at` is empty until rule evaluation has run over the
event (proactive/stream.py hands the same rows to a durable stream at scale).
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
