"""Customers and the identities (phone, email, chat visitor, app user) that resolve to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from teamline.teams.models import validate_timezone


class IdentityKind(models.TextChoices):
    PHONE = "phone", "Phone (E.164)"
    EMAIL = "email", "Email"
    WEBCHAT = "webchat", "Web chat visitor"
    EXTERNAL = "external", "Brand user id (verified)"
    TELEGRAM = "telegram", "Telegram user id"
    MESSENGER = "messenger", "Messenger page-scoped id"
    INSTAGRAM = "instagram", "Instagram-scoped id"
    WECHAT = "wechat", "WeChat OpenID"


class LanguageSource(models.TextChoices):
    """Where a customer's language came from, strongest first: a choice is never overridden by
    what Teamline guesses, and what the customer writes beats what their browser or app says
    (customers.actions.do_capture_language)."""

    CHOSEN = "chosen", "Chosen by the customer or recorded by an agent"
    DETECTED = "detected", "Detected from what the customer wrote"
    CHANNEL = "channel", "Said by the browser, the email or the messaging app"


class Customer(models.Model):
    name = models.CharField(max_length=200, blank=True)
    # One of settings.LANGUAGES (core.languages), or "" when nobody knows yet. Rows from before
    # `language_source` existed have a language and no source: they count as chosen.
    preferred_language = models.CharField(max_length=16, blank=True)
    language_source = models.CharField(
        max_length=16, blank=True, choices=LanguageSource.choices, default=""
    )
    preferred_channel = models.CharField(max_length=32, blank=True)
    home_team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    last_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region = models.CharField(max_length=100, blank=True)
    # IANA zone for the customer's local clock (quiet hours); empty = the home team's zone
    # (customers.queries.time_zone_of says which one applies).
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
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


class ConsentTopic(models.TextChoices):
    """What a proactive message is about. Service notices are on unless the customer said no
    (opt-out); anything promotional is off unless they said yes (opt-in): the default of a
    topic not listed in CONSENT_DEFAULT_ON is off (customers.queries.has_consent)."""

    DATA_CAP = "data_cap", "Data-cap reminders"
    OUTAGE = "outage", "Outage notices"
    PROMOTIONAL = "promotional", "Offers and promotions"
    # Satisfaction surveys after a conversation (surveys app): asked unless the customer said no.
    SURVEYS = "surveys", "Satisfaction surveys"


# Topics a customer receives until they opt out.
CONSENT_DEFAULT_ON = frozenset(
    {ConsentTopic.DATA_CAP.value, ConsentTopic.OUTAGE.value, ConsentTopic.SURVEYS.value}
)


class ConsentSource(models.TextChoices):
    """Where a customer's explicit choice came from."""

    DESK = "desk", "An agent in the desk"
    SMS = "sms", "An SMS keyword (STOP DATA)"
    WIDGET = "widget", "The web chat widget"
    APP = "app", "The brand's app"
    API = "api", "The API"
    ADMIN = "admin", "The admin"
    EMAIL = "email", "A link in an email (a survey's page)"


class Consent(models.Model):
    """A customer's explicit choice for one topic; no row = the topic's default. One row per
    (customer, topic), changed only by customers.actions.do_set_consent, which also appends
    the change to ConsentChange."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    topic = models.CharField(max_length=32)
    granted = models.BooleanField()
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "topic"], name="consent_customer_topic")
        ]

    def __str__(self) -> str:
        return f"{self.topic}={'yes' if self.granted else 'no'} for #{self.customer_id}"


class ConsentChange(models.Model):
    """The customer's consent timeline: every explicit choice, append-only, with who recorded
    it (None: the customer themselves), from where and when."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_changes")
    topic = models.CharField(max_length=32)
    granted = models.BooleanField()
    previous = models.BooleanField()
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["customer", "created_at"])]

    def __str__(self) -> str:
        return f"{self.topic} {self.previous}->{self.granted} for #{self.customer_id}"


class CustomerPasskey(models.Model):
    """A WebAuthn credential (platform authenticator, resident key) a customer saved in the
    widget after a code step-up; verifying with it raises a conversation to strong
    (docs/security.md, "Customer step-up"). Only the public key is kept."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="passkeys")
    # base64url of the credential id, as the browser names it.
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    rp_id = models.CharField(max_length=253)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"passkey of customer {self.customer_id}"


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge handed to one customer's browser: single use (`used_at` set by a
    conditional UPDATE) and short-lived (`expires_at`). `purpose` is "register" or
    "authenticate"; `conversation_id` is the conversation the ceremony verifies."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    conversation_id = models.BigIntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=16)
    challenge = models.CharField(max_length=128, unique=True)
    rp_id = models.CharField(max_length=253)
    origin = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.purpose} challenge for customer {self.customer_id}"
