"""Reads of proactive care that other apps (and this app's endpoints) call."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from teamline.accounts.models import User
from teamline.conversations.models import Direction, Message, SenderKind
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer

from .models import Event, IntegrationKey, Notice, NoticeStatus, Rule, RuleFiring


def access_integration_key(actor: User, key_id: object) -> IntegrationKey:
    """An integration key by database id, for admins only; NotFound otherwise."""
    pk = parse_id(key_id, "integration key")
    key = IntegrationKey.objects.filter(pk=pk).first() if actor.is_admin else None
    if key is None:
        raise NotFound("No such integration key.")
    return key


def active_key(key_id: str) -> IntegrationKey | None:
    """The unrevoked integration key a request names by its public id, or None."""
    if not key_id or len(key_id) > 40:
        return None
    return IntegrationKey.objects.filter(key_id=key_id, revoked_at__isnull=True).first()


def events_of(customer: Customer) -> QuerySet[Event]:
    """A customer's events, newest first (for staff who reached the customer through an access
    helper, and for rules looking back over a window)."""
    return Event.objects.filter(customer=customer).order_by("-occurred_at", "-id")


def waiting_event_count() -> int:
    """Events whose customer is not known yet."""
    return Event.objects.filter(customer__isnull=True).count()


def unevaluated_event_count() -> int:
    """Events of known customers that rule evaluation has not run over yet (the backlog)."""
    return Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False).count()


# --- Rules ------------------------------------------------------------------------------------


def access_rule(actor: User, rule_id: object) -> Rule:
    """A rule by id, for admins only; NotFound otherwise (no existence leak)."""
    pk = parse_id(rule_id, "rule")
    rule = Rule.objects.filter(pk=pk).first() if actor.is_active and actor.is_admin else None
    if rule is None:
        raise NotFound("No such rule.")
    return rule


@dataclass(frozen=True)
class RuleCounts:
    """What a rule did: `fired` (its firings), and of its notices: `sent` (handed to the
    channel), `deferred` (ever held for quiet hours), `suppressed_consent`, `suppressed_cap`,
    `failed` (no reachable channel, or the provider refused the message) and `replies` (sent
    notices the customer answered in the same conversation afterwards)."""

    fired: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed_consent: int = 0
    suppressed_cap: int = 0
    failed: int = 0
    replies: int = 0


def rule_counts(rule_ids: list[int]) -> dict[int, RuleCounts]:
    """RuleCounts for each of `rule_ids`, in three queries whatever their number."""
    fired = dict(
        RuleFiring.objects.filter(rule_id__in=rule_ids)
        .values("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    replied = Message.objects.filter(
        conversation_id=OuterRef("message__conversation_id"),
        direction=Direction.INBOUND,
        sender_kind=SenderKind.CUSTOMER,
        created_at__gt=OuterRef("sent_at"),
    )
    failed_message = Q(status=NoticeStatus.SENT, message__delivery_status="failed")
    rows = (
        Notice.objects.filter(rule_id__in=rule_ids)
        .values("rule_id")
        .annotate(
            sent=Count("id", filter=Q(status=NoticeStatus.SENT) & ~failed_message),
            deferred=Count("id", filter=Q(was_deferred=True)),
            suppressed_consent=Count("id", filter=Q(status=NoticeStatus.SUPPRESSED_CONSENT)),
            suppressed_cap=Count("id", filter=Q(status=NoticeStatus.SUPPRESSED_CAP)),
            failed=Count("id", filter=Q(status=NoticeStatus.FAILED) | failed_message),
        )
    )
    counts = {pk: RuleCounts(fired=fired.get(pk, 0)) for pk in rule_ids}
    for row in rows:
        counts[row["rule_id"]] = RuleCounts(
            fired=fired.get(row["rule_id"], 0),
            sent=row["sent"],
            deferred=row["deferred"],
            suppressed_consent=row["suppressed_consent"],
            suppressed_cap=row["suppressed_cap"],
            failed=row["failed"],
        )
    replies = dict(
        Notice.objects.filter(rule_id__in=rule_ids, status=NoticeStatus.SENT)
        .filter(Exists(replied))
        .values("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    for pk, n in replies.items():
        current = counts[pk]
        counts[pk] = RuleCounts(**{**current.__dict__, "replies": n})
    return counts
