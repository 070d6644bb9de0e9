"""The audit log: who did what to which record, from where — append-only and tamper-evident.

Every entry carries the hash of the entry before it (`prev_hash`) and its own hash over its
content and that link (`hash`), in the order of `seq` (1, 2, 3, … with no gap). Changing an
entry changes its hash; deleting one leaves a gap or a broken link; cutting off the newest
entries disagrees with `AuditHead`, the one row that remembers the last seq and hash. The
database refuses to change an entry (and on PostgreSQL to delete one: triggers, migration
0001), so the log can only be rewritten by someone who can also drop triggers — and
`teamline audit verify` finds any change or removal.

Entries name their target by type and id, not by content: the log keeps no message text, and a
customer's erasure leaves only ids behind in it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    LOGIN = "auth.login", "Signed in"
    LOGIN_FAILED = "auth.login_failed", "Sign-in failed"
    LOGOUT = "auth.logout", "Signed out"
    MFA_CHANGED = "mfa.changed", "Multi-factor changed"
    PASSWORD_CHANGED = "password.changed", "Password changed"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    # Keys an operator's system signs proactive event batches with (proactive/actions.py).
    INTEGRATION_KEY_CREATED = "integration_key.created", "Integration key created"
    INTEGRATION_KEY_REVOKED = "integration_key.revoked", "Integration key revoked"
    CUSTOMER_VIEWED = "customer.viewed", "Customer viewed"
    # A remote agent revealed one masked value (customers/masking.py): field and reason.
    CUSTOMER_REVEALED = "customer.revealed", "Customer value revealed"
    # An agent set or cleared one of a customer's attributes (customers.actions
    # .do_set_customer_attribute): the key, and whether it was set or cleared (never the value).
    CUSTOMER_CHANGED = "customer.changed", "Customer attribute changed"
    CONVERSATION_VIEWED = "conversation.viewed", "Conversation viewed"
    CUSTOMER_EXPORTED = "customer.exported", "Customer exported"
    CUSTOMER_ERASED = "customer.erased", "Customer erased"
    SETTINGS_CHANGED = "settings.changed", "Settings changed"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    RETENTION_APPLIED = "retention.applied", "Retention applied"
    # Single sign-on (sso/actions.py): a user made on their first sign-in, and the role and
    # teams their identity provider's groups gave them on a later one.
    USER_PROVISIONED = "user.provisioned", "User provisioned by single sign-on"
    ROLE_CHANGED = "role.changed", "Role changed"
    TEAMS_CHANGED = "teams.changed", "Teams changed"
    OUTAGE_DECLARED = "outage.declared", "Outage declared"
    OUTAGE_CHANGED = "outage.changed", "Outage changed"
    OUTAGE_ENDED = "outage.ended", "Outage ended"
    OUTAGE_DISMISSED = "outage.dismissed", "Suspected outage dismissed"
    # A customer's step-up by the brand's sign-in was refused (conversations/stepup.py): the
    # account signed in with is not the conversation's customer, or its answer did not verify.
    STEP_UP_REFUSED = "stepup.refused", "Customer step-up refused"


class AuditEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(default=timezone.now)
    # The actor by id and name at the time: entries outlive users, and are never cascaded.
    actor_id = models.PositiveBigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["actor_id", "at"], name="audit_actor_time"),
            models.Index(fields=["action", "at"], name="audit_action_time"),
            models.Index(fields=["at"], name="audit_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor or 'system'}"


class AuditHead(models.Model):
    """The chain's newest link: one row (pk 1), locked by every append, so entries are
    numbered and chained one at a time on any database."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"
