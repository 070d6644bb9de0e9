"""Staff: users with a role, their agent profile (skills, languages, capacity, presence), tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from teamline.core.errors import InvalidInput

from .phone import clean_e164


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Admin"


class Presence(models.TextChoices):
    OFFLINE = "offline", "Offline"
    AVAILABLE = "available", "Available"
    BUSY = "busy", "Busy"
    AWAY = "away", "Away"
    WRAP_UP = "wrap_up", "Wrap-up"


class ChannelKind(models.TextChoices):
    """How a channel is worked, which is what capacity is counted in."""

    CHAT = "chat", "Chat"
    EMAIL = "email", "Email"
    VOICE = "voice", "Voice"


class CallVia(models.TextChoices):
    """Where an agent's leg of a phone call rings: their own phone number, or the provider's
    softphone client (`client:<username>`)."""

    PHONE = "phone", "My phone number"
    CLIENT = "client", "The provider's softphone (client:<username>)"


def default_capacity() -> dict[str, int]:
    return {ChannelKind.CHAT: 3, ChannelKind.EMAIL: 5, ChannelKind.VOICE: 1}


class User(AbstractUser):
    """A staff member. Customers are not users (see customers.Customer)."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(max_length=150, blank=True)
    # Works from outside the operator's premises (home, a partner's site): sees customers'
    # phone numbers, email and postal addresses masked everywhere and reveals one value at a
    # time with a reason, audited (customers/masking.py). Set by admins.
    is_remote = models.BooleanField(
        default=False,
        help_text="Remote agent: customer phone numbers, emails and addresses are masked.",
    )
    # The language of the desk for this staff member, one of settings.LANGUAGES; blank means
    # "my browser's" (Accept-Language, mapped to those languages). Read by the desk's language
    # middleware on every staff request (accounts/middleware.py), so it lives on the user row
    # the request has loaded anyway, not on the agent profile.
    language = models.CharField(
        max_length=8,
        blank=True,
        default="",
        help_text="Desk language (en, nb, zh-hans, zh-hant, et, pt); blank: the browser's.",
    )
    # The desk's keyboard shortcuts (docs/desk.md) on or off for this staff member: an agent
    # whose assistive technology or habits clash with them turns them off on "My profile".
    # On the user row the request has loaded anyway: every desk page tells desk.js.
    keyboard_shortcuts = models.BooleanField(
        default=True, help_text="The desk's keyboard shortcuts are on."
    )

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMIN

    @property
    def name(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """Everything routing needs to know about a staff member who can take work."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="agent")
    photo = models.ImageField(upload_to="agents/", blank=True)
    languages = models.JSONField(default=list, blank=True, help_text='e.g. ["nb", "en"]')
    skills = models.JSONField(default=dict, blank=True, help_text="skill → proficiency 1-5")
    capacity = models.JSONField(
        default=default_capacity, help_text="simultaneous conversations per channel kind"
    )
    presence = models.CharField(max_length=16, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(default=timezone.now)
    # Longest idle = oldest last assignment (routing's tie-breaker).
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # After a voice contact the agent gets this long to finish notes before routing offers
    # more work; `wrap_up_until` is when the current wrap-up ends (routing sets it).
    wrap_up_seconds = models.PositiveIntegerField(
        default=0, help_text="seconds of wrap-up after each voice contact"
    )
    wrap_up_until = models.DateTimeField(null=True, blank=True)
    # Where the provider rings the agent when they accept a phone call (calls/phone.py):
    # `phone_number` (E.164) or, with call_via=client, the provider's softphone identity
    # `client:<username>`. Without either the agent cannot take phone calls.
    phone_number = models.CharField(
        max_length=16, blank=True, help_text="E.164, e.g. +4790000000: where phone calls ring"
    )
    call_via = models.CharField(
        max_length=8,
        choices=CallVia.choices,
        default=CallVia.PHONE,
        help_text="ring phone calls on the phone number, or on the provider's softphone",
    )
    # Back-office staff who may be pulled into a conversation as an expert (a second
    # participant, not the assignee). Set by the agent on the desk, independent of presence.
    expert_available = models.BooleanField(
        default=False, help_text="may be invited into conversations as an expert"
    )

    class Meta:
        indexes = [models.Index(fields=["presence", "last_assigned_at"])]

    def __str__(self) -> str:
        return f"{self.user.name} ({self.presence})"

    @property
    def call_endpoint(self) -> str:
        """What the provider dials for this agent's leg of a phone call ("" if nothing)."""
        if self.call_via == CallVia.CLIENT:
            return f"client:{self.user.get_username()}"
        return self.phone_number

    def clean(self) -> None:
        if self.phone_number:
            try:
                self.phone_number = clean_e164(self.phone_number)
            except InvalidInput as exc:
                raise ValidationError({"phone_number": str(exc)}) from exc

    def capacity_for(self, kind: str) -> int:
        value = self.capacity.get(kind, default_capacity().get(kind, 0))
        return max(int(value), 0)


class PresenceSpan(models.Model):
    """A stretch of one agent's presence, from one change to the next; the open span (no end)
    is the current one. Written with every presence change (accounts.actions.do_set_presence).
    Staffing reads from it how many agents were actually staffed in each interval
    (analytics/staffing.py)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="presence_spans")
    presence = models.CharField(max_length=16, choices=Presence.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["started_at", "ended_at"], name="presence_span_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(ended_at__isnull=True),
                name="presence_span_one_open_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.presence} from {self.started_at:%Y-%m-%d %H:%M}"


class ApiToken(models.Model):
    """A personal access token. Only a SHA-256 of the secret is stored; revoked tokens stay."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Empty: everything the user may do (tokens made before scopes). Otherwise a subset of
    # TokenScope values; the API's auth class enforces them (teamline/api.py).
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def allows(self, scope: str) -> bool:
        return not self.scopes or scope in self.scopes


class TokenScope(models.TextChoices):
    """What a scoped API token may do. A token without scopes may do everything its user may
    (the meaning tokens had before scopes existed); scopes only narrow."""

    READ = "read", "Read (GET)"
    WRITE = "write", "Write (POST, PUT, PATCH, DELETE)"
    EVENTS = "events", "Event streams"
    ADMIN = "admin", "Admin-only endpoints (audit log)"
    # Export and erasure of a customer's data and nothing else; only admins may mint it, and
    # it works only while its user is an admin (privacy/queries.py).
    PRIVACY = "privacy", "Privacy requests (customer export and erasure; admins only)"


class StaffSession(models.Model):
    """One signed-in browser of a staff member: recorded at sign-in, ended by signing out, by
    the user or an admin, by a password change or by the idle timeout.

    The session's key is stored only as a SHA-256 (`key_hash`, refreshed when Django cycles the
    key); the browser's session holds this row's id, which the session middleware checks on
    every request (accounts/sessions.py). Ended rows stay (with `ended_at` and why) until the
    periodic clean-up."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="staff_sessions")
    key_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Updated at most once a minute (accounts/sessions.py), so requests do not all write.
    last_seen_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class MFARequirement(models.Model):
    """Whether staff of one role must have a second factor (an authenticator app or a passkey)
    before they may do anything but set one up (accounts/middleware.py). One row per role,
    made by a data migration from TEAMLINE_MFA_REQUIRED_ROLES (admins and supervisors by
    default); admins change it in the admin (accounts.actions.do_set_mfa_requirement)."""

    role = models.CharField(max_length=16, choices=Role.choices, unique=True)
    required = models.BooleanField(default=False, help_text="Must have a second factor")

    class Meta:
        verbose_name = "MFA requirement"
        verbose_name_plural = "MFA requirements"
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {'required' if self.required else 'optional'}"
