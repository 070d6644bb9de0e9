"""Inboxes: one configured channel account each (a web chat widget, later a number, a mailbox…)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from teamline.core.crypto import decrypt_json, encrypt_json


class InboxKind(models.TextChoices):
    """One kind per provider account type; the connector module of the same name serves it."""

    WEBCHAT = "webchat", "Web chat"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS (Twilio-compatible)"
    WHATSAPP = "whatsapp", "WhatsApp Cloud API"
    MESSENGER = "messenger", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram direct messages"
    TELEGRAM = "telegram", "Telegram bot"
    WECHAT = "wechat", "WeChat Official Account"
    APP = "app", "In-app (API channel)"
    VOICE = "voice", "Voice calls (Twilio-compatible)"


def new_inbox_secret() -> str:
    return secrets.token_urlsafe(32)


class Inbox(models.Model):
    # What the embed snippet and public URLs carry, so inboxes cannot be enumerated.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=InboxKind.choices, default=InboxKind.WEBCHAT)
    default_team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="inboxes")
    # Key for verified identities (HMAC-SHA256 of the brand's user id). Shown only once in the
    # admin change form, never in lists, logs or the API.
    secret = models.CharField(max_length=128, default=new_inbox_secret)
    # Brand pages allowed to embed the widget (Origin check on the widget socket); empty = any.
    allowed_origins = models.JSONField(default=list, blank=True)
    greeting = models.CharField(max_length=300, blank=True)
    # Provider credentials (tokens, app secrets, passwords), Fernet-encrypted at rest: read and
    # write them through `credentials`. Never logged, listed, or returned by the API.
    credentials_encrypted = models.TextField(blank=True, default="")
    # Non-secret provider settings: phone number, page id, API base URL, mailbox host…
    config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def credentials(self) -> dict[str, Any]:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict[str, Any]) -> None:
        self.credentials_encrypted = encrypt_json(value) if value else ""


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
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="webhook_events")
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
