"""Customers and the identities (phone, email, chat visitor, app user) that resolve to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdentityKind(models.TextChoices):
    PHONE = "phone", "Phone (E.164)"
    EMAIL = "email", "Email"
    WEBCHAT = "webchat", "Web chat visitor"
    EXTERNAL = "external", "Brand user id (verified)"
    TELEGRAM = "telegram", "Telegram user id"
    MESSENGER = "messenger", "Messenger page-scoped id"
    INSTAGRAM = "instagram", "Instagram-scoped id"
    WECHAT = "wechat", "WeChat OpenID"


class Customer(models.Model):
    name = models.CharField(max_length=200, blank=True)
    preferred_language = models.CharField(max_length=16, blank=True)
    preferred_channel = models.CharField(max_length=32, blank=True)
    home_team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    last_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Set when an agent merged this customer into another (the merge is
    # conversations.actions.do_merge_customers): its identities and conversations moved there;
    # the row stays so old references resolve.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name or f"Customer #{self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or f"Visitor #{self.pk}"


class Identity(models.Model):
    """One way to reach or recognise a customer. (kind, value) is unique: one owner per identity.

    `verified` is True only when the brand vouched for it (HMAC from the host site or app) or a
    provider proved it (a phone number an SMS came from). Unverified identities never attach a
    contact to an existing customer.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    value = models.CharField(max_length=320)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class CustomerMerge(models.Model):
    """Audit of one merge: who merged which customer into which, and exactly what moved.

    The source customer's id and name are copied, so the record reads the same after the
    source row is gone.
    """

    target = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    source_id_copy = models.BigIntegerField()
    source_name = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    # [{"kind", "value", "verified"}], [conversation ids], {attribute: value copied}
    identities = models.JSONField(default=list, blank=True)
    conversations = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"merge of #{self.source_id_copy} into #{self.target_id}"


class OneTimeCode(models.Model):
    """A code sent to a verified identity (customers/codes.py). `code_hash` is an HMAC, never
    the code. Superseded codes are marked used when a new one is issued; a redeemed code is
    marked used by a conditional UPDATE, so it works once even under concurrent attempts."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["identity", "purpose", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} code for identity {self.identity_id}"
