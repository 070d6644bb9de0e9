"""Every write of proactive care: ingesting events, integration keys, matching waiting events.

Ingest stores a batch in one transaction with a handful of queries whatever its size (which
ids were seen, which identities are known, one bulk INSERT), then hands the stored events of
known customers to evaluation after commit (proactive/stream.py). The database is the truth:
an event is stored before it is announced anywhere, and an acknowledged event is never only
in a stream.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.crypto import encrypt_json
from teamline.core.errors import InvalidInput
from teamline.customers.hooks import KnownIdentity
from teamline.customers.models import Identity
from teamline.teams.queries import team_for_region

from . import stream
from .ingest import InvalidEvent, ParsedEvent, parse_event
from .models import Event, IntegrationKey

MAX_EVENTS_PER_BATCH = 5_000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def do_ingest_events(items: Sequence[Any], *, sender: str, phone_region: str = "") -> IngestResult:
    """Store a batch of events from `sender` ("key:<id>" or "user:<id>").

    Each event is checked on its own (proactive/ingest.py): a bad one is rejected with its
    index and reason, the others go on. An id this sender used before — or earlier in the same
    batch — is a duplicate whatever its content, and changes nothing. Events name their
    customer by an identity; unknown customers' events are stored all the same and wait for
    the identity to appear (do_match_waiting_events). National phone numbers are read in the
    country of the team serving the event's region, else `phone_region`.

    One transaction; stored events of known customers are handed to evaluation after commit
    (stream.submit). Concurrent batches with the same ids: the unique (sender, external_id)
    decides, and the loser counts them as duplicates. Raises InvalidInput past
    MAX_EVENTS_PER_BATCH (the API answers 413 before calling)."""
    if len(items) > MAX_EVENTS_PER_BATCH:
        raise InvalidInput(_("At most %(n)d events per request.") % {"n": MAX_EVENTS_PER_BATCH})
    result = IngestResult()
    parsed: list[ParsedEvent] = []
    seen: set[str] = set()
    regions: dict[str, str | None] = {}
    for index, item in enumerate(items):
        try:
            event = parse_event(item, phone_region=_phone_region(item, regions, phone_region))
        except InvalidEvent as exc:
            result.rejected.append({"index": index, "error": str(exc)})
            continue
        if event.external_id in seen:
            result.duplicates += 1
            continue
        seen.add(event.external_id)
        parsed.append(event)
    if not parsed:
        return result
    now = timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                stored = _store(parsed, sender=sender, now=now)
        except IntegrityError:
            continue  # another request stored some of these ids meanwhile: count them again
        result.accepted = len(stored)
        result.duplicates += len(parsed) - len(stored)
        return result
    raise InvalidInput(_("These events are being stored by another request; send them again."))


def _phone_region(item: Any, regions: dict[str, str | None], fallback: str) -> str | None:
    """The country national phone numbers of this event are read in (cached per region)."""
    region = item.get("region") if isinstance(item, dict) else None
    if not isinstance(region, str) or not region.strip() or len(region) > 100:
        return fallback or None
    key = region.strip().lower()
    if key not in regions:
        team = team_for_region(region.strip())
        regions[key] = (team.country if team is not None else "") or fallback or None
    return regions[key]


def _store(parsed: list[ParsedEvent], *, sender: str, now: Any) -> list[Event]:
    """Insert the events whose ids are new for `sender`; returns the stored rows (with ids).
    Queries: the ids seen, the known identities (one per kind named), the INSERT."""
    ids = [event.external_id for event in parsed]
    known = set(
        Event.objects.filter(sender=sender, external_id__in=ids).values_list(
            "external_id", flat=True
        )
    )
    fresh = [event for event in parsed if event.external_id not in known]
    owners = _owners({(e.identity_kind, e.identity_value) for e in fresh})
    rows = [
        Event(
            sender=sender,
            external_id=e.external_id,
            type=e.type,
            occurred_at=e.occurred_at,
            received_at=now,
            customer_id=owners.get((e.identity_kind, e.identity_value)),
            identity_kind=e.identity_kind,
            identity_value=e.identity_value,
            region=e.region,
            data=e.data,
        )
        for e in fresh
    ]
    if rows:
        Event.objects.bulk_create(rows, batch_size=1_000)
        stream.submit_on_commit([row.pk for row in rows if row.customer_id is not None])
    return rows


def _owners(identities: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The customer who holds each (kind, value) — the one merged into, for a merged one."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in identities:
        by_kind.setdefault(kind, []).append(value)
    owners: dict[tuple[str, str], int] = {}
    for kind, values in by_kind.items():
        for value, customer_id, merged_into in Identity.objects.filter(
            kind=kind, value__in=values
        ).values_list("value", "customer_id", "customer__merged_into_id"):
            owners[(kind, value)] = merged_into or customer_id
    return owners


def match_known_identity(known: KnownIdentity) -> None:
    """customers' hook (after commit): an identity now belongs to a customer."""
    do_match_waiting_events(known.kind, known.value, known.customer_id)


def do_match_waiting_events(kind: str, value: str, customer_id: int) -> int:
    """Attach the events that named (kind, normalised value) before its customer was known,
    and hand them to evaluation. One conditional UPDATE (only events still waiting), so two
    concurrent matches attach each event once. Returns how many were attached."""
    with transaction.atomic():
        ids = list(
            Event.objects.filter(
                customer__isnull=True, identity_kind=kind, identity_value=value
            ).values_list("pk", flat=True)
        )
        if not ids:
            return 0
        attached = Event.objects.filter(pk__in=ids, customer__isnull=True).update(
            customer_id=customer_id
        )
        stream.submit_on_commit(ids)
    return attached


def do_match_all_waiting_events(*, limit: int = 10_000) -> int:
    """The sweep's safety net for a listener that could not run (a crash right after an
    identity committed): attach waiting events whose identity is known now. Returns how many."""
    waiting = (
        Event.objects.filter(customer__isnull=True)
        .values_list("identity_kind", "identity_value")
        .distinct()[:limit]
    )
    owners = _owners(set(waiting))
    return sum(
        do_match_waiting_events(kind, value, customer_id)
        for (kind, value), customer_id in owners.items()
    )


KEY_PREFIX = "ik_"


@dataclass(frozen=True)
class NewKey:
    key: IntegrationKey
    secret: str  # shown once; only its encrypted copy is stored


def do_create_integration_key(name: str, *, actor: User) -> NewKey:
    """A new integration key for an operator's system (admins only). Returns the secret once."""
    if not actor.is_admin:
        raise InvalidInput(_("Only admins make integration keys."))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput(_("Name the key (at most 100 characters)."))
    secret = secrets.token_urlsafe(32)
    key = IntegrationKey.objects.create(
        name=name,
        key_id=KEY_PREFIX + secrets.token_hex(12),
        secret_encrypted=encrypt_json({"secret": secret}),
        created_by=actor,
    )
    return NewKey(key, secret)


def do_revoke_integration_key(key: IntegrationKey, *, actor: User) -> IntegrationKey:
    """Revoke a key: it signs nothing from now on. Its events stay."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        IntegrationKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=key.revoked_at
        )
    return key
