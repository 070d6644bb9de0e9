"""Every write of proactive care: ingesting events, integration keys, matching waiting events.

Ingest stores a batch in one transaction with a handful of queries whatever its size (which
ids were seen, which identities are known, one bulk INSERT), then hands the stored events of
known customers to evaluation after commit (proactive/stream.py). The database is the truth:
an event is stored before it is announced anywhere, and an acknowledged event is never only
in a stream.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.core.bulk import in_values
from teamline.core.compiled import CompiledOnce
from teamline.core.crypto import encrypt_json
from teamline.core.errors import Conflict, Forbidden, InvalidInput
from teamline.customers.actions import do_set_regions_from_events
from teamline.customers.hooks import KnownIdentity
from teamline.customers.queries import (
    check_consent_topic,
    customer_ids_by_identity,
    identities_created_since,
)
from teamline.teams.queries import team_for_region

from . import stream
from .expressions import MAX_LENGTH as MAX_CONDITION
from .expressions import ConditionError, compile_condition
from .ingest import IDENTITY_KEYS, InvalidEvent, ParsedEvent, check_unmatched_phone, parse_event
from .models import Event, EventType, IntegrationKey, Rule

MAX_EVENTS_PER_BATCH = 5_000
EVENT_IDENTITY_KINDS = frozenset(IDENTITY_KEYS.values())


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
            event = parse_event(
                item, index=index, phone_region=_phone_region(item, regions, phone_region)
            )
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
                stored, invalid = _store(parsed, sender=sender, now=now)
        except IntegrityError:
            continue  # another request stored some of these ids meanwhile: count them again
        result.accepted = stored
        result.duplicates += len(parsed) - stored - len(invalid)
        result.rejected = sorted([*result.rejected, *invalid], key=lambda r: r["index"])
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


def _store(
    parsed: list[ParsedEvent], *, sender: str, now: datetime
) -> tuple[int, list[dict[str, Any]]]:
    """Insert the events whose ids are new for `sender`; returns how many were stored and the
    events rejected for a phone number that does not exist. Queries: the ids seen, the known
    identities (one per kind named), the INSERT."""
    ids = [event.external_id for event in parsed]
    known = set(
        Event.objects.filter(sender=sender, external_id__in=in_values(ids)).values_list(
            "external_id", flat=True
        )
    )
    fresh = [event for event in parsed if event.external_id not in known]
    owners = customer_ids_by_identity({(e.identity_kind, e.identity_value) for e in fresh})
    invalid: list[dict[str, Any]] = []
    checked: list[ParsedEvent] = []
    for e in fresh:
        if e.phone_unchecked and (e.identity_kind, e.identity_value) not in owners:
            try:
                check_unmatched_phone(e.identity_value)
            except InvalidEvent as exc:
                invalid.append({"index": e.index, "error": str(exc)})
                continue
        checked.append(e)
    fresh = checked
    if not fresh:
        return 0, invalid
    rows = [
        (
            e.external_id,
            e.type,
            e.occurred_at,
            owners.get((e.identity_kind, e.identity_value)),
            e.identity_kind,
            e.identity_value,
            e.region,
            e.data,
        )
        for e in fresh
    ]
    if connection.vendor == "postgresql":
        matched = _insert_postgresql(rows, sender=sender, now=now)
    else:
        _insert_sqlite(rows, sender=sender, now=now)
        matched = []
        if stream.mode() == "redis":  # no RETURNING through executemany: read the ids back
            matched = list(
                Event.objects.filter(
                    sender=sender,
                    external_id__in=in_values(ids),
                    customer__isnull=False,
                    received_at=now,
                ).values_list("pk", flat=True)
            )
    stream.submit_on_commit(matched)
    _update_regions(fresh, owners)
    return len(rows), invalid


def _update_regions(events: list[ParsedEvent], owners: dict[tuple[str, str], int]) -> None:
    """Customers of a region are those whose region the newest event of theirs named."""
    newest: dict[int, ParsedEvent] = {}
    for e in events:
        customer_id = owners.get((e.identity_kind, e.identity_value))
        if customer_id is not None and e.region:
            seen = newest.get(customer_id)
            if seen is None or e.occurred_at >= seen.occurred_at:
                newest[customer_id] = e
    if newest:
        do_set_regions_from_events({cid: e.region for cid, e in newest.items()})


# The columns ingest writes, in the order of the row tuples _store builds (after sender).
_COLUMNS = (
    "external_id",
    "type",
    "occurred_at",
    "customer_id",
    "identity_kind",
    "identity_value",
    "region",
    "data",
)
_PG_TYPES = ("text", "text", "timestamptz", "bigint", "text", "text", "text", "jsonb")


def _insert_postgresql(rows: list[tuple[Any, ...]], *, sender: str, now: datetime) -> list[int]:
    """One INSERT … SELECT FROM jsonb_to_recordset(batch) … RETURNING for the whole batch:
    a single statement with three parameters whatever the batch size. Arrays or one
    placeholder per value cost more in psycopg's Python than the database's insert (measured);
    one JSON document is encoded in C and read by the server. Returns the ids of the events
    whose customer is known."""
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    names = ", ".join(quote(c) for c in ("sender", "received_at", *_COLUMNS))
    record = ", ".join(f"{c} {kind}" for c, kind in zip(_COLUMNS, _PG_TYPES, strict=True))
    sql = (
        f"INSERT INTO {table} ({names}) SELECT %s, %s, {', '.join(_COLUMNS)} "  # noqa: S608
        f"FROM jsonb_to_recordset(%s::jsonb) AS u({record}) RETURNING id, customer_id"
    )
    document = json.dumps(
        [
            dict(zip(_COLUMNS, (eid, kind, at.isoformat(), *rest), strict=True))
            for eid, kind, at, *rest in rows
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [sender, now, document])
        return [pk for pk, customer_id in cursor.fetchall() if customer_id is not None]


def _insert_sqlite(rows: list[tuple[Any, ...]], *, sender: str, now: datetime) -> None:
    """One executemany of a prepared INSERT (Django's bulk_create would split 5,000 rows into
    50 statements by SQLite's historical 999-parameter limit). Values are prepared as the
    SQLite backend prepares them: aware datetimes as naive UTC text, JSON as text."""
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    names = ", ".join(quote(c) for c in ("sender", "received_at", *_COLUMNS))
    marks = ", ".join(["%s"] * (len(_COLUMNS) + 2))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - quoted names
    received = _sqlite_time(now)
    params = [
        (sender, received, eid, kind, _sqlite_time(at), cid, ik, iv, region, json.dumps(data))
        for eid, kind, at, cid, ik, iv, region, data in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _sqlite_time(value: datetime) -> str:
    """What Django's SQLite backend stores for an aware datetime (naive UTC, str())."""
    return str(value.astimezone(UTC).replace(tzinfo=None))


def match_known_identity(known: KnownIdentity) -> None:
    """customers' hook (after commit): an identity now belongs to a customer. Only the kinds
    an event can name are looked up (a new web chat visitor costs nothing here)."""
    if known.kind in EVENT_IDENTITY_KINDS:
        do_match_waiting_events(known.kind, known.value, known.customer_id)


def do_match_waiting_events(kind: str, value: str, customer_id: int) -> int:
    """Attach the events that named (kind, normalised value) before its customer was known,
    and hand them to evaluation. One conditional UPDATE (only events still waiting), so two
    concurrent matches attach each event once. Returns how many were attached. Every new
    customer's identity asks: when none waits (nearly always) that is one read, without a
    transaction of its own."""
    ids = _waiting_for.column(kind, value)
    if not ids:
        return 0
    with transaction.atomic():
        attached = Event.objects.filter(pk__in=ids, customer__isnull=True).update(
            customer_id=customer_id
        )
        stream.submit_on_commit(ids)
    return attached


_waiting_for = CompiledOnce(
    lambda kind, value: Event.objects.filter(
        customer__isnull=True, identity_kind=kind, identity_value=value
    ).values_list("pk", flat=True),
    markers=(CompiledOnce.TEXT, CompiledOnce.TEXT_2),
)


# How far back the sweep looks for identities whose announcement may have been lost.
MATCH_LOOKBACK = timedelta(hours=1)


def do_match_all_waiting_events(*, now: datetime | None = None) -> int:
    """The sweep's safety net for an announcement that never ran (a crash right after an
    identity committed): the identities created within MATCH_LOOKBACK that waiting events
    name get those events. Bounded by the recent identities, not by how many events wait
    forever for someone who never comes. Returns how many events were attached."""
    since = (now or timezone.now()) - MATCH_LOOKBACK
    recent = identities_created_since(since, kinds=EVENT_IDENTITY_KINDS)
    if not recent:
        return 0
    waiting = set(
        Event.objects.filter(
            customer__isnull=True, identity_value__in=in_values(sorted({v for _k, v in recent}))
        )
        .values_list("identity_kind", "identity_value")
        .distinct()
    )
    return sum(
        do_match_waiting_events(kind, value, customer_id)
        for (kind, value), customer_id in recent.items()
        if (kind, value) in waiting
    )


KEY_PREFIX = "ik_"


@dataclass(frozen=True)
class NewKey:
    key: IntegrationKey
    secret: str  # shown once; only its encrypted copy is stored


def do_create_integration_key(
    name: str, *, actor: User, request: HttpRequest | None = None
) -> NewKey:
    """A new integration key for an operator's system (admins only). Returns the secret once:
    only its encrypted copy is stored (core/crypto), and no page shows it again. Audited
    (`integration_key.created`, with the key's name and public id, and the address of
    `request` when there is one)."""
    if not (actor.is_active and actor.is_admin):
        raise Forbidden(_("Only admins make integration keys."))
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        raise InvalidInput(_("Name the key (at most 100 characters)."))
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = IntegrationKey.objects.create(
            name=name,
            key_id=KEY_PREFIX + secrets.token_hex(12),
            secret_encrypted=encrypt_json({"secret": secret}),
            created_by=actor,
        )
        do_audit(
            AuditAction.INTEGRATION_KEY_CREATED,
            actor=actor,
            target_type="integration_key",
            target_id=key.pk,
            request=request,
            data={"name": key.name, "key_id": key.key_id},
        )
    return NewKey(key, secret)


def do_revoke_integration_key(
    key: IntegrationKey, *, actor: User, request: HttpRequest | None = None
) -> IntegrationKey:
    """Revoke a key (admins only): it signs nothing from now on; its events stay. One
    conditional UPDATE: revoking again changes nothing and is audited once
    (`integration_key.revoked`)."""
    if not (actor.is_active and actor.is_admin):
        raise Forbidden(_("Only admins revoke integration keys."))
    now = timezone.now()
    with transaction.atomic():
        revoked = IntegrationKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if revoked:
            do_audit(
                AuditAction.INTEGRATION_KEY_REVOKED,
                actor=actor,
                target_type="integration_key",
                target_id=key.pk,
                request=request,
                data={"name": key.name, "key_id": key.key_id},
            )
    key.refresh_from_db(fields=["revoked_at"])
    return key


# --- Rules (admins) ---------------------------------------------------------------------------

MAX_WINDOW_SECONDS = 31 * 24 * 3600
MAX_CAP_SECONDS = 366 * 24 * 3600
MAX_THRESHOLD = 1000
MAX_MESSAGE = 1000
_SLUG = re.compile(r"^[a-z0-9_]{1,100}$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_KEY_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Fields a rule is written with; a built-in rule keeps its message (a catalog msgid).
RULE_FIELDS = (
    "name", "description", "enabled", "event_type", "condition", "window_seconds",
    "threshold", "new_value_of", "dedupe_key", "cap_count", "cap_seconds", "quiet_start",
    "quiet_end", "critical", "topic", "send_message", "message", "translations",
    "whatsapp_template", "open_conversation", "tag", "alert_supervisors",
)  # fmt: skip


def _require_admin(actor: User) -> None:
    if not (actor.is_active and actor.is_admin):
        raise Forbidden(_("Only admins change proactive rules."))


def _text(value: Any, name: str, limit: int, *, blank: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(_("%(field)s must be text.") % {"field": name})
    value = value.strip()
    if "\x00" in value:
        raise InvalidInput(_("%(field)s cannot contain NUL characters.") % {"field": name})
    if len(value) > limit:
        raise InvalidInput(
            _("%(field)s has at most %(limit)d characters.") % {"field": name, "limit": limit}
        )
    if not blank and not value:
        raise InvalidInput(_("%(field)s is needed.") % {"field": name})
    return value


def _bounded(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            _("%(field)s is a whole number from %(low)d to %(high)d.")
            % {"field": name, "low": low, "high": high}
        )
    return value


def check_rule(fields: dict[str, Any], *, builtin: bool = False) -> dict[str, Any]:
    """The rule fields, checked and cleaned; InvalidInput saying which field is wrong and why."""
    clean: dict[str, Any] = {}
    for name in RULE_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if name == "name":
            clean[name] = _text(value, name, 100, blank=False)
        elif name == "description":
            clean[name] = _text(value, name, 2000)
        elif name == "message":
            if builtin:
                raise Conflict(_("A built-in rule's message comes from the translations."))
            clean[name] = _text(value, name, MAX_MESSAGE)
        elif name in ("enabled", "critical", "send_message", "open_conversation",
                      "alert_supervisors"):  # fmt: skip
            if not isinstance(value, bool):
                raise InvalidInput(_("%(field)s is true or false.") % {"field": name})
            clean[name] = value
        elif name == "event_type":
            value = _text(value, name, 16)
            if value and value not in EventType.values:
                raise InvalidInput(
                    _("event_type is one of %(types)s, or empty for any.")
                    % {"types": ", ".join(EventType.values)}
                )
            clean[name] = value
        elif name == "condition":
            try:
                clean[name] = compile_condition(_text(value, name, MAX_CONDITION)).source
            except ConditionError as exc:
                raise InvalidInput(_("condition: %(why)s") % {"why": exc}) from None
        elif name == "window_seconds":
            clean[name] = _bounded(value, name, 1, MAX_WINDOW_SECONDS)
        elif name == "threshold":
            clean[name] = _bounded(value, name, 1, MAX_THRESHOLD) or 1
        elif name == "cap_count":
            clean[name] = _bounded(value, name, 1, MAX_THRESHOLD)
        elif name == "cap_seconds":
            clean[name] = _bounded(value, name, 1, MAX_CAP_SECONDS)
        elif name == "new_value_of":
            value = _text(value, name, 64)
            if value and not _FIELD.match(value):
                raise InvalidInput(_("new_value_of names one field of the event's data."))
            clean[name] = value
        elif name == "dedupe_key":
            value = _text(value, name, 200)
            for placeholder in _KEY_PLACEHOLDER.findall(value):
                if not _FIELD.match(placeholder):
                    raise InvalidInput(
                        _("dedupe_key: {%(name)s} is not a field name.") % {"name": placeholder}
                    )
            clean[name] = value
        elif name in ("quiet_start", "quiet_end"):
            clean[name] = _time_of(value, name)
        elif name == "topic":
            clean[name] = check_consent_topic(_text(value, name, 32, blank=False))
        elif name == "translations":
            clean[name] = _translations(value)
        elif name == "whatsapp_template":
            value = _text(value, name, 100)
            if value and not _SLUG.match(value):
                raise InvalidInput(_("whatsapp_template is an approved template's name."))
            clean[name] = value
        elif name == "tag":
            clean[name] = _text(value, name, 50)
    return clean


def _time_of(value: Any, name: str) -> time | None:
    if value is None or value == "":
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        hours, minutes = int(value[:2]), int(value[3:])
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise InvalidInput(_("%(field)s is a time of day such as 21:00.") % {"field": name})


def _translations(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(_("translations maps a language code to the message in it."))
    languages = {code for code, _name in settings.LANGUAGES}
    clean: dict[str, str] = {}
    for language, text in value.items():
        if language not in languages:
            raise InvalidInput(
                _("translations: %(language)s is not one of %(languages)s.")
                % {"language": str(language)[:20], "languages": ", ".join(sorted(languages))}
            )
        clean[language] = _text(text, f"translations.{language}", MAX_MESSAGE)
    return {k: v for k, v in clean.items() if v}


# What the other half of a pair defaults to when only one is given.
DEFAULT_WINDOW_SECONDS = 3600
DEFAULT_CAP_SECONDS = 24 * 3600
DEFAULT_QUIET = (time(21, 0), time(8, 0))


def _complete(rule: Rule) -> None:
    """Fill the other half of a pair given alone: a threshold's window (an hour), a cap's
    period (a day) or count (one), the other end of quiet hours (21:00 / 08:00)."""
    if rule.threshold > 1 and not rule.window_seconds:
        rule.window_seconds = DEFAULT_WINDOW_SECONDS
    if rule.cap_count is not None and rule.cap_seconds is None:
        rule.cap_seconds = DEFAULT_CAP_SECONDS
    if rule.cap_seconds is not None and rule.cap_count is None:
        rule.cap_count = 1
    if rule.quiet_start is not None and rule.quiet_end is None:
        rule.quiet_end = DEFAULT_QUIET[1]
    if rule.quiet_end is not None and rule.quiet_start is None:
        rule.quiet_start = DEFAULT_QUIET[0]


def _check_whole(rule: Rule, *, stored: bool) -> None:
    """The rule as a whole: it has something to do, and a message if it sends one. For a
    stored rule the problem comes from its state with the change: Conflict (409)."""
    refuse = Conflict if stored else InvalidInput
    if rule.send_message and not (rule.message or rule.translations):
        raise refuse(_("A rule that sends a message needs the message."))
    if not (rule.send_message or rule.open_conversation or rule.tag or rule.alert_supervisors):
        raise refuse(_("A rule needs at least one action."))


def _audit(actor: User, rule: Rule, data: dict[str, Any]) -> None:
    do_audit(
        AuditAction.SETTINGS_CHANGED,
        actor=actor,
        target_type="proactive_rule",
        target_id=rule.pk,
        data=data,
    )


def do_create_rule(fields: dict[str, Any], *, actor: User) -> Rule:
    """A new rule (admins). Validated field by field (check_rule) and as a whole; disabled
    unless `enabled` says otherwise — try it with the preview first. Audited."""
    _require_admin(actor)
    clean = check_rule(fields)
    for needed in ("name", "condition"):
        if needed not in clean:
            raise InvalidInput(_("%(field)s is needed.") % {"field": needed})
    rule = Rule(**clean)
    _complete(rule)
    _check_whole(rule, stored=False)
    with transaction.atomic():
        rule.save()
        _audit(actor, rule, {"created": sorted(clean)})
    return rule


def do_update_rule(rule: Rule, fields: dict[str, Any], *, actor: User) -> Rule:
    """Change the given fields of a rule (admins); a built-in rule keeps its message. Audited."""
    _require_admin(actor)
    clean = check_rule(fields, builtin=bool(rule.builtin))
    for name, value in clean.items():
        setattr(rule, name, value)
    _complete(rule)
    _check_whole(rule, stored=True)
    with transaction.atomic():
        rule.save()
        _audit(actor, rule, {"changed": sorted(clean)})
    return rule


def do_delete_rule(rule: Rule, *, actor: User) -> None:
    """Delete a rule (admins); its notices stay (counted under no rule). A built-in rule can
    only be switched off: Conflict."""
    _require_admin(actor)
    if rule.builtin:
        raise Conflict(_("A built-in rule cannot be deleted; switch it off instead."))
    with transaction.atomic():
        _audit(actor, rule, {"deleted": rule.name})
        rule.delete()
