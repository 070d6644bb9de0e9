"""Provider deliveries as received; the inboxes they arrive at live in conversations/models.py."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookEventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class WebhookEvent(models.Model):
    """A verified inbound provider delivery, stored raw before anything else happens.

    Unique on (provider, inbox, external_id): a provider's retry of the same delivery hits the
    constraint and is answered 2xx without a second processing. The raw body is kept for replay.
    """

    provider = models.CharField(max_length=32)
    inbox = models.ForeignKey(
        "conversations.Inbox", on_delete=models.CASCADE, related_name="webhook_events"
    )
    external_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now)
    # Lower-cased request headers minus credentials (cookies, auth, Telegram's secret token).
    headers = models.JSONField(default=dict, blank=True)
    # The rest of the request a connector's parse() may need: method, url, path_suffix, query.
    request_meta = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()
    status = models.CharField(
        max_length=16, choices=WebhookEventStatus.choices, default=WebhookEventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "inbox", "external_id"], name="webhook_event_unique"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id}"


class WhatsAppTemplate(models.Model):
    """A message template of a WhatsApp Cloud API inbox's business account, as last synced
    from Meta (connectors.actions.do_sync_whatsapp_templates; connectors/templates.py reads
    its components). Only APPROVED ones can be sent. Unique per inbox, name and language: a
    sync updates rows in place and removes the ones Meta no longer lists."""

    inbox = models.ForeignKey(
        "conversations.Inbox", on_delete=models.CASCADE, related_name="whatsapp_templates"
    )
    provider_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    # APPROVED, PENDING, REJECTED, PAUSED, DISABLED… as Meta says.
    status = models.CharField(max_length=32)
    category = models.CharField(max_length=32, blank=True)
    parameter_format = models.CharField(max_length=16, default="POSITIONAL")
    components = models.JSONField(default=list, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "name", "language"], name="whatsapp_template_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"
