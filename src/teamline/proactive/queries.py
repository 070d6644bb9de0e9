"""Reads of proactive care that other apps (and this app's endpoints) call: events, rules and
notices; the active outages of a region (bots, the IVR, the widget, routing, surges), a
conversation's outages (the desk), the outage lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime

from teamline.accounts.models import User
from teamline.conversations.models import Direction, Message, SenderKind
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer

from .models import (
    Event,
    FailedBatch,
    FailedBatchState,
    HeldEvent,
    IntegrationKey,
    Notice,
    NoticeStatus,
    Outage,
    OutageContact,
    Rule,
    RuleFiring,
    SuspectedOutage,
    SuspicionState,
)


def access_integration_key(actor: User, key_id: object) -> IntegrationKey:
    """An integration key by database id, for admins only; NotFound otherwise."""
    pk = parse_id(key_id, "integration key")
    key = IntegrationKey.objects.filter(pk=pk).first() if actor.is_admin else None
    if key is None:
        raise NotFound("No such integration key.")
    return key


def integration_keys() -> QuerySet[IntegrationKey]:
    """Every integration key, active ones first, newest first (the CLI's list)."""
    return IntegrationKey.objects.order_by(F("revoked_at").desc(nulls_first=True), "-pk")


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


# --- A customer's records, for the privacy export (privacy/archive.py) ----------------------


def events_of_customers(customer_ids: Sequence[int]) -> QuerySet[Event]:
    """The operator's usage, billing, network, device and custom events about them."""
    return Event.objects.filter(customer_id__in=list(customer_ids)).order_by("pk")


def notices_of_customers(customer_ids: Sequence[int]) -> QuerySet[Notice]:
    """Every notice they were sent or were to be sent (deferred, suppressed, failed)."""
    return Notice.objects.filter(customer_id__in=list(customer_ids)).order_by("pk")


def firings_of_customers(customer_ids: Sequence[int]) -> QuerySet[RuleFiring]:
    """The rules that fired for them, once per dedupe key."""
    return RuleFiring.objects.filter(customer_id__in=list(customer_ids)).order_by("pk")


def outage_contacts_of_customers(customer_ids: Sequence[int]) -> QuerySet[OutageContact]:
    """Their conversations routing tagged with an outage of their region."""
    return OutageContact.objects.filter(customer_id__in=list(customer_ids)).order_by("pk")


# --- Failed batches (proactive/deadletter.py) ------------------------------------------------


def held_event_counts() -> dict[str, int]:
    """Events held out of the queue because their batch failed: {"retrying": n, "parked": m}
    (monitoring, next to unevaluated_event_count and waiting_event_count). One query."""
    counts = {FailedBatchState.RETRYING.value: 0, FailedBatchState.PARKED.value: 0}
    rows = (
        HeldEvent.objects.filter(batch__state__in=list(counts))
        .values("batch__state")
        .annotate(n=Count("pk"))
        .values_list("batch__state", "n")
        .order_by()
    )
    counts.update(dict(rows))
    return counts


def failed_batches(state: str | None = None, *, limit: int = 200) -> list[FailedBatch]:
    """Parked batches first, then retrying ones, then resolved ones; newest first in each."""
    rows = FailedBatch.objects.select_related("replayed_by")
    if state:
        rows = rows.filter(state=state)
    rank = {FailedBatchState.PARKED.value: 0, FailedBatchState.RETRYING.value: 1}
    found = list(rows.order_by("-last_failed_at", "-pk")[:limit])
    return sorted(found, key=lambda b: rank.get(b.state, 2))


def held_event_ids(batch: FailedBatch, *, limit: int = 100) -> list[str]:
    """The senders' ids of the batch's held events (the first `limit`), for the listings."""
    return list(
        Event.objects.filter(hold__batch=batch)
        .order_by("pk")
        .values_list("external_id", flat=True)[:limit]
    )


def access_failed_batch(actor: User, batch_id: object) -> FailedBatch:
    """A failed batch by id, for admins only; NotFound otherwise."""
    pk = parse_id(batch_id, "failed batch")
    allowed = actor.is_active and actor.is_admin
    found = FailedBatch.objects.filter(pk=pk).first() if allowed else None
    if found is None:
        raise NotFound("No such failed batch.")
    return found


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


# --- Outages -----------------------------------------------------------------------------------

ACTIVE_KEY = "proactive:active-outages"
# The snapshot of active outages is shared through the cache and dropped on every change; the
# time-out bounds how stale a node can be when its cache is its own (locmem, no Redis).
ACTIVE_TTL_SECONDS = 30
LIST_LIMIT = 200


def region_key(region: str) -> str:
    """Regions match case-insensitively and without surrounding spaces."""
    return (region or "").strip().casefold()


@dataclass(frozen=True)
class ActiveOutage:
    id: int
    title: str
    message: str
    regions: tuple[str, ...]  # as declared
    keys: frozenset[str]
    critical: bool
    expected_end: datetime | None
    started_at: datetime


def _load() -> list[dict[str, object]]:
    rows = []
    for outage in Outage.objects.filter(ended_at__isnull=True).order_by("started_at", "pk"):
        rows.append(
            {
                "id": outage.pk,
                "title": outage.title,
                "message": outage.message,
                "regions": list(outage.regions),
                "critical": outage.critical,
                "expected_end": outage.expected_end.isoformat() if outage.expected_end else "",
                "started_at": outage.started_at.isoformat(),
            }
        )
    return rows


def _parse(row: dict[str, object]) -> ActiveOutage:
    regions = tuple(str(r) for r in row["regions"])  # type: ignore[attr-defined]
    expected = str(row["expected_end"] or "")
    return ActiveOutage(
        id=int(row["id"]),  # type: ignore[call-overload]
        title=str(row["title"]),
        message=str(row["message"]),
        regions=regions,
        keys=frozenset(region_key(r) for r in regions),
        critical=bool(row["critical"]),
        expected_end=parse_datetime(expected) if expected else None,
        started_at=parse_datetime(str(row["started_at"])),  # type: ignore[arg-type]
    )


def active_outages() -> list[ActiveOutage]:
    """Every active outage, oldest first: from the cache, else one query (then cached)."""
    rows = cache.get(ACTIVE_KEY)
    if rows is None:
        rows = _load()
        cache.set(ACTIVE_KEY, rows, ACTIVE_TTL_SECONDS)
    return [_parse(row) for row in rows]


def forget_active_outages() -> None:
    """Drop the cached snapshot (after a declare or an end commits)."""
    cache.delete(ACTIVE_KEY)


def active_outages_in(region: str) -> list[ActiveOutage]:
    """The active outages of a region (case-insensitive); [] for no region, without a query."""
    key = region_key(region)
    if not key:
        return []
    return [outage for outage in active_outages() if key in outage.keys]


def recent_outages(*, limit: int = LIST_LIMIT) -> list[Outage]:
    """Active outages first (newest first), then the ended ones, newest first."""
    active = list(
        Outage.objects.filter(ended_at__isnull=True)
        .select_related("declared_by", "ended_by")
        .order_by("-started_at", "-pk")[:limit]
    )
    ended = list(
        Outage.objects.filter(ended_at__isnull=False)
        .select_related("declared_by", "ended_by")
        .order_by("-ended_at", "-pk")[: max(0, limit - len(active))]
    )
    return active + ended


def open_suspicions(*, limit: int = LIST_LIMIT) -> list[SuspectedOutage]:
    return list(
        SuspectedOutage.objects.filter(state=SuspicionState.OPEN).order_by("-raised_at", "-pk")[
            :limit
        ]
    )


def outages_of_conversation(conversation_id: int) -> list[Outage]:
    """The outages routing tagged this conversation with, newest first."""
    ids = OutageContact.objects.filter(conversation_id=conversation_id).values_list(
        "outage_id", flat=True
    )
    return list(Outage.objects.filter(pk__in=ids).order_by("-started_at"))
