"""Inboxes (the channel accounts), conversations, their messages (including internal notes) and the
timeline that audits them."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from teamline.core.crypto import decrypt_json, encrypt_json
from teamline.core.redaction import ALL_KINDS, kinds_of


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


def default_redaction() -> list[str]:
    """Every kind core.redaction knows: a new inbox masks them all."""
    return sorted(ALL_KINDS)


class Inbox(models.Model):
    """One configured channel account: a web chat widget, a number, a mailbox, a bot…

    It lives below conversations (a conversation's and a message's foreign key) and is served by
    the connector module named by `kind` (teamline.connectors).
    """

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
    # What is masked in messages through this inbox before they are stored (core.redaction
    # kinds: card, iban, national_id, otp); empty = stored as typed (docs/security.md).
    redaction = models.JSONField(default=default_redaction, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Created by connectors; the model moved here with its table, so no rows moved.
        db_table = "connectors_inbox"
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def redaction_kinds(self) -> frozenset[str]:
        return kinds_of(self.redaction)

    @property
    def credentials(self) -> dict[str, Any]:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict[str, Any]) -> None:
        self.credentials_encrypted = encrypt_json(value) if value else ""


class Status(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SNOOZED = "snoozed", "Snoozed"
    RESOLVED = "resolved", "Resolved"


class Priority(models.IntegerChoices):
    """Urgent > high > normal > low. Routing ages the queue by it (routing/engine.py) and a team
    in limited mode ("urgent matters only") lets only urgent items reach a human."""

    LOW = -1, "Low"
    NORMAL = 0, "Normal"
    HIGH = 1, "High"
    URGENT = 2, "Urgent"


class Label(models.Model):
    """An admin-defined label agents put on conversations (e.g. "Billing", "Fibre").

    The name is unique whatever its case; `colour` is a #rrggbb hex the desk paints the badge
    with, next to the name (never instead of it: colour alone conveys nothing). Changed only by
    conversations.labels."""

    name = models.CharField(max_length=50)
    colour = models.CharField(max_length=7, default="#5b6770")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="label_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """One customer's thread with the brand, whatever channels it crosses.

    `assignee` is claimed with a conditional UPDATE (routing/actions.py); `waiting_since` is set
    while the conversation is open and unassigned (the team queue, oldest first).
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="conversations"
    )
    inbox = models.ForeignKey("conversations.Inbox", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="conversations")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    priority = models.IntegerField(choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=32, help_text="channel of origin, e.g. webchat")
    channel_kind = models.CharField(max_length=16, default="chat")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Customer messages the assignee has not opened yet.
    unread_count = models.PositiveIntegerField(default=0)
    # The customer's message rate, counted here under the row's lock by every inbound customer
    # message (conversations/inbound.py): the minute (since the epoch, UTC) of their latest one
    # and how many came in that minute. The widget's and the app's per-minute limit reads it:
    # no counter elsewhere, no round trip of its own (docs/scale.md, "What is shared").
    inbound_minute = models.PositiveIntegerField(default=0)
    inbound_in_minute = models.PositiveIntegerField(default=0)
    # Customer step-up (customers/verification.py): the level reached in this conversation,
    # how and when. Changed only by conversations/stepup.py; read through
    # customers.verification.current_level, since a level lapses VERIFIED_FOR after `verified_at`.
    verification_level = models.PositiveSmallIntegerField(default=0)
    verification_method = models.CharField(max_length=16, blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    # Admin-defined labels (conversations.labels adds and removes them, with a timeline row).
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    # When a supervisor last started watching or whispered (conversations/supervision.py); None
    # when none ever did, so opening the conversation reads no watches or whispers at all.
    supervised_at = models.DateTimeField(null=True, blank=True)
    # When an expert was last invited (routing.transfers.do_invite_expert stamps it under the
    # row's lock); None when none ever was, so a message or a reply in it reads no
    # participants at all (conversations.queries.participants_of_locked).
    experts_invited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "status", "waiting_since"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["customer", "-created_at"]),
            # Whether a customer had a conversation with one of the actor's teams
            # (customers.queries.visible_customers), read from the index alone.
            models.Index(fields=["team", "customer"]),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"


class Direction(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"
    INTERNAL = "internal", "Internal"


class SenderKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class Message(models.Model):
    """A message or an internal note (is_internal). Notes never reach a customer.

    `external_id` is the provider's message id or, for web chat, the customer's client id
    prefixed with the customer id; unique per inbox and channel, so a resend is absorbed. Not
    per channel alone: provider ids are only unique inside one provider account (a Telegram id
    is "<chat>:<message>" and a private chat has the same id for every bot; an email reaching
    two mailboxes carries one Message-ID), and a second account's message must never be taken
    for a resend of the first's.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    sender_kind = models.CharField(max_length=16, choices=SenderKind.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=32)
    # The channel account it came in on or goes out through (None for web chat history seeded
    # before inboxes per channel existed).
    inbox = models.ForeignKey(
        "conversations.Inbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    content = models.JSONField(default=dict, blank=True)
    is_internal = models.BooleanField(default=False)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    # The provider's reason when delivery failed, shown to the agent.
    delivery_error = models.TextField(blank=True)
    # Outbound: the provider's id for the sent message (status callbacks name it). Kept apart
    # from `external_id`, which stays the idempotency key of the agent's client id.
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    # SMS segments billed for an outbound message (GSM-7 vs UCS-2), when the provider says.
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    # Outbox: how many times delivery was attempted (transient errors are retried).
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    # Auto-replies, bounces and other machine mail: recorded as SYSTEM messages, never as the
    # customer writing; they do not reopen or route the conversation.
    automated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Channel and external id lead, so the same index answers the lookups of an
            # agent's reply by client id across the conversation's channels.
            models.UniqueConstraint(
                fields=["channel", "external_id", "inbox"],
                condition=Q(external_id__isnull=False),
                name="message_inbox_external_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["channel", "provider_message_id"], name="message_provider_id_idx"),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk}"


class Attachment(models.Model):
    """A file on a message, stored through Django's storage API under a random name.

    `content_type` is what the bytes are (sniffed), not what the sender claimed; anything not
    on the allow-list is stored as application/octet-stream and only ever downloaded. Served
    only through the access-checked desk view (conversations.attachments).
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    # What the sender or provider said it was (kept for the agent; never used to serve it).
    declared_type = models.CharField(max_length=100, blank=True, default="")

    def __str__(self) -> str:
        return self.filename


class TimelineKind(models.TextChoices):
    CREATED = "created", "Created"
    ASSIGNED = "assigned", "Assigned"
    UNASSIGNED = "unassigned", "Unassigned"
    TRANSFERRED = "transferred", "Transferred"
    STATUS_CHANGED = "status_changed", "Status changed"
    NOTE_ADDED = "note_added", "Note added"
    QUEUED = "queued", "Queued"
    # Routing moved the waiting item: next policy step, overflow, after-hours, surge.
    ROUTED = "routed", "Routed"
    # A call's life: rang, accepted, connected, held, muted, recording paused, ended.
    CALL = "call", "Call"
    # Customer step-up: asked, verified, wrong code, failed, expired (never the code).
    VERIFICATION = "verification", "Verification"
    # A label put on or taken off; the priority changed (conversations.labels).
    LABELED = "labeled", "Labels changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    # A satisfaction survey: sent, skipped (why), answered (the score).
    SURVEY = "survey", "Survey"
    # A supervisor watched, whispered to the agent, barged in or took over
    # (conversations/supervision.py; `data.action` says which, never a whisper's text).
    SUPERVISION = "supervision", "Supervision"


class TimelineEvent(models.Model):
    """What happened to a conversation and why; also the audit trail (actor, time, data)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="timeline"
    )
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.conversation_id}"


class ParticipantRole(models.TextChoices):
    EXPERT = "expert", "Expert"


class ConversationParticipant(models.Model):
    """A staff member who joined a conversation besides its assignee (an expert an agent
    invited). While active (`left_at` empty) they may read and write in the conversation even
    outside its team (conversations.queries.visible_conversations); the row stays as history
    when they leave. At most one active participation per person and conversation (unique)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(
        max_length=16, choices=ParticipantRole.choices, default=ParticipantRole.EXPERT
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why they were asked: "by name" or the skill they were chosen for.
    reason = models.CharField(max_length=200, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Moved from routing with its table (conversations/migrations/0005): the name stays.
        db_table = "routing_conversationparticipant"
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"],
                condition=Q(left_at__isnull=True),
                name="participant_one_active_per_user",
            )
        ]
        indexes = [models.Index(fields=["user", "left_at"], name="participant_user_active")]

    def __str__(self) -> str:
        return f"{self.role} #{self.user_id} in conversation #{self.conversation_id}"


class StepUpState(models.TextChoices):
    PENDING = "pending", "Waiting for the customer"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Replaced by a newer request"


class StepUp(models.Model):
    """One request that the customer in `conversation` verify themselves (customers/
    verification.py): by a one-time code sent to `identity` (the code itself is a
    customers.OneTimeCode, stored only as an HMAC), or by signing in with one of `methods`
    (the brand's sign-in, a passkey). At most one is pending per
    conversation: a new request supersedes the old. `failures` counts wrong codes typed; the
    state moves only through conversations/stepup.py. A pending request past `expires_at` is
    shown as expired (stepup.state_of) and marked so the next time it is touched."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(
        "customers.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=16)
    # A request by sign-in (method "sign_in"): the methods the customer was offered ("oidc",
    # "passkey"). Empty for a code request, whose one method is `method`.
    methods = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=16, choices=StepUpState.choices, default=StepUpState.PENDING
    )
    # None with `by_bot`: the bot asked; None without it: the requester's account is gone.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_bot = models.BooleanField(default=False)
    failures = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "state"], name="stepup_conversation_state"),
            models.Index(fields=["identity", "state"], name="stepup_identity_state"),
        ]

    def __str__(self) -> str:
        return f"step-up {self.method} on #{self.conversation_id} ({self.state})"


class Whisper(models.Model):
    """A supervisor's note to the agent working a conversation (conversations/supervision.py).

    Kept apart from the messages on purpose: nothing that reads messages — the customer's
    socket and widget history, the connectors' outbox, search, transcripts and exports, the
    team's desks — can ever come across it. Shown only to `agent` (the assignee when it was
    written), the supervisors of the conversation's team and admins (supervision.whispers_for).
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="whispers"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="whispers_received"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="whisper_conv_time")]

    def __str__(self) -> str:
        return f"whisper #{self.pk} on #{self.conversation_id}"


class ConversationWatch(models.Model):
    """A supervisor watching a conversation live (conversations/supervision.py): not a
    participant, nothing the customer sees. `sockets` counts the supervisor's desk sockets
    watching it (tabs); the watch ends (`ended_at`) when the last one leaves. At most one
    live watch per supervisor and conversation (unique), so a reconnect changes nothing."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="watches")
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    sockets = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "supervisor"],
                condition=Q(ended_at__isnull=True),
                name="watch_one_live_per_supervisor",
            )
        ]
        indexes = [models.Index(fields=["conversation", "ended_at"], name="watch_conv_live")]

    def __str__(self) -> str:
        return f"#{self.supervisor_id} watching #{self.conversation_id}"
