"""Proactive care in the JSON API: POST /api/v1/events (docs/proactive.md, "The event contract")
and the rules at /api/v1/rules.

Who may send events: an admin's personal access token (unscoped, or scoped with `events`), an
admin's desk session, or an operator's system signing the body with an integration key
(SignedKey below: HMAC-SHA256 over the timestamp and the body, a timestamp within
EVENT_SIGNATURE_WINDOW_SECONDS of the server's clock, and each signature accepted once).

The event body is read here, not by the schema layer: one bad event must be rejected on its
own (with its index), never fail the batch with a 422, and 5,000 events through pydantic would
cost more than storing them. Structural limits are core.jsonsafe's (400); text rules are
checked per event (proactive/ingest.py).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, time
from time import time as unix_time
from typing import Annotated, Any, Literal, cast

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import APIKeyHeader, HttpBearer
from pydantic import ConfigDict, StrictBool

from teamline.accounts.actions import check_token_use, find_api_token
from teamline.accounts.models import TokenScope, User
from teamline.core import jsonsafe
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.crypto import decrypt_json
from teamline.core.errors import Forbidden, InvalidInput

from .actions import (
    MAX_EVENTS_PER_BATCH,
    RULE_FIELDS,
    do_create_rule,
    do_delete_rule,
    do_ingest_events,
    do_update_rule,
)
from .engine import preview
from .expressions import ConditionError
from .ingest import MAX_DATA_ITEMS, MAX_DATA_TEXT
from .models import EventType, IntegrationKey, Rule
from .queries import RuleCounts, access_rule, active_key, rule_counts

router = Router(tags=["proactive"])

# 5,000 events with a few hundred bytes of data each, with room to spare.
MAX_BODY_BYTES = 16 * 1024 * 1024

KEY_HEADER = "X-Teamline-Key"
TIMESTAMP_HEADER = "X-Teamline-Timestamp"
SIGNATURE_HEADER = "X-Teamline-Signature"
SIGNATURE_PREFIX = "sha256="


class TooLarge(InvalidInput):
    code = "too_large"
    status = 413


def read_body(request: HttpRequest) -> bytes:
    """The raw body, at most MAX_BODY_BYTES (413 beyond), read once per request."""
    cached = getattr(request, "_events_body", None)
    if cached is not None:
        return bytes(cached)
    try:
        body = request.body
    except RequestDataTooBig:
        # Above Django's form-sized default: an event batch may be larger; read it ourselves.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            raise TooLarge(_("A request body is at most 16 MB.")) from None
        body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(_("A request body is at most 16 MB."))
    request._events_body = body  # type: ignore[attr-defined]
    return body


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds, as sent)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


class SignedKey(APIKeyHeader):
    """An integration key (X-Teamline-Key) with X-Teamline-Timestamp and X-Teamline-Signature:
    `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body). A wrong signature, a timestamp
    outside the window or a signature seen before (a replay) is a 401 saying which."""

    param_name = KEY_HEADER

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not key:
            return None
        found = active_key(key)
        if found is None:
            raise AuthenticationError(401, _("Unknown or revoked integration key."))
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        given = request.headers.get(SIGNATURE_HEADER, "")
        window = int(settings.TEAMLINE["EVENT_SIGNATURE_WINDOW_SECONDS"])
        if not stamp.isdigit() or len(stamp) > 12 or abs(unix_time() - int(stamp)) > window:
            raise AuthenticationError(
                401,
                _("%(header)s must be the current Unix time (within %(window)d seconds).")
                % {"header": TIMESTAMP_HEADER, "window": window},
            )
        secret = str(decrypt_json(found.secret_encrypted)["secret"])
        if not hmac.compare_digest(
            given.encode(), signature(secret, stamp, read_body(request)).encode()
        ):
            raise AuthenticationError(401, _("The signature does not match this body."))
        # Each signature once: a captured request replayed within the window is refused.
        if not cache.add(f"proactive:signature:{given}", 1, timeout=window * 2 + 60):
            raise AuthenticationError(401, _("This signed request was already received."))
        IntegrationKey.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        return found


class EventsToken(HttpBearer):
    """An admin's personal access token: unscoped, or with the `events` scope."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = find_api_token(token)
        if found is None:
            return None
        if found.is_expired:
            raise AuthenticationError(
                401, f"This token expired at {found.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        if found.scopes and TokenScope.EVENTS not in found.scopes:
            raise AuthorizationError(
                403,
                _("This token's scopes (%(scopes)s) do not allow this: it needs `events`.")
                % {"scopes": ", ".join(found.scopes)},
            )
        user = check_token_use(found).user
        request.user = user
        return user


EVENT_DESCRIPTION = (
    'One event: {"id": str (at most 200 characters, unique per sender), "type": one of '
    + ", ".join(EventType.values)
    + ', "occurred_at": ISO 8601 (without an offset: UTC), "customer": {"phone" | "email" | '
    '"external_id": str} (matched in the order external_id, phone, email), "region"?: str, '
    f'"data"?: {{…}} (at most {MAX_DATA_ITEMS} values and {MAX_DATA_TEXT} characters, 8 levels, '
    "integers within 64 bits)}. Anything else is rejected by its index, not the whole batch."
)
BATCH_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            # Not maxItems: more events is a 413 (Content Too Large), not a schema error.
            "description": f"At most {MAX_EVENTS_PER_BATCH:,} events; more is a 413.",
            "items": {"description": EVENT_DESCRIPTION},
        }
    },
    "example": {
        "events": [
            {
                "id": "usage-2026-12-05-000123",
                "type": "usage",
                "occurred_at": "2026-12-05T09:30:00+01:00",
                "customer": {"phone": "+4791234567"},
                "region": "NO-03",
                "data": {"data_used_mb": 16_500, "data_cap_mb": 20_480},
            }
        ]
    },
}


class Rejected(Schema):
    index: int = Field(description="The event's position in the batch (from 0).")
    error: str


class IngestOut(Schema):
    accepted: int = Field(description="Stored now (including events of unknown customers).")
    duplicates: int = Field(description="Ids seen before, or earlier in this batch.")
    rejected: list[Rejected]


@router.post(
    "",
    response={202: IngestOut, **errors(400, 403, 413, 422)},
    summary="Send a batch of usage, billing, network, device or custom events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BATCH_SCHEMA}},
        }
    },
)
def ingest_events(request: HttpRequest) -> Status:
    """Up to 5,000 events; each is stored once per sender id, checked on its own and answered
    by index. 413 for more events (or a body over 16 MB)."""
    sender = request.auth  # type: ignore[attr-defined]
    if isinstance(sender, IntegrationKey):
        sender_name = sender.sender
    else:
        if not isinstance(sender, User) or not sender.is_admin:
            raise Forbidden(_("Only admins and integration keys may send events."))
        sender_name = f"user:{sender.pk}"
    payload = jsonsafe.loads_structure(read_body(request))
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise InvalidInput(_('The body is {"events": [...]}.'))
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise TooLarge(
            _("At most %(n)d events per request; send the rest in another.")
            % {"n": MAX_EVENTS_PER_BATCH}
        )
    result = do_ingest_events(
        events,
        sender=sender_name,
        phone_region=str(settings.TEAMLINE["DEFAULT_PHONE_REGION"]),
    )
    return Status(
        202,
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
        },
    )


# --- Rules: /api/v1/rules (admins; mounted with ADMIN_AUTH) -----------------------------------

rules_router = Router(tags=["rules"])

RuleId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The rule's id.")]
EVENT_TYPES = Literal["", "usage", "billing", "network", "device", "custom"]
ClockTime = Annotated[
    str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time, e.g. 21:00.")
]


class TranslationsIn(Schema):
    """The message in other languages; a language left out reads the English `message`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    en: str | None = text_field(default=None, max_length=1000, blank=True)
    nb: str | None = text_field(default=None, max_length=1000, blank=True)
    zh_hans: str | None = Field(
        None, alias="zh-hans", max_length=1000, pattern=jsonsafe.NO_NUL_PATTERN
    )
    zh_hant: str | None = Field(
        None, alias="zh-hant", max_length=1000, pattern=jsonsafe.NO_NUL_PATTERN
    )
    et: str | None = text_field(default=None, max_length=1000, blank=True)
    pt: str | None = text_field(default=None, max_length=1000, blank=True)


# Fields that may be set to null on PATCH (no window, no cap, no quiet hours); null anywhere
# else means "not given".
NULLABLE = {"window_seconds", "cap_count", "cap_seconds", "quiet_start", "quiet_end"}


class RuleIn(Schema):
    """A rule's fields; on PATCH only those given change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = text_field(default=None, max_length=100)
    description: str | None = text_field(default=None, max_length=2000, blank=True)
    enabled: StrictBool | None = None
    event_type: EVENT_TYPES | None = Field(None, description="Empty: any type.")
    condition: str | None = text_field(
        default=None,
        max_length=500,
        description="An expression over the event's data and the customer, e.g. "
        "`data_used_mb >= 0.8 * data_cap_mb` (docs/proactive.md).",
    )
    window_seconds: int | None = Field(None, ge=1, le=31 * 24 * 3600)
    threshold: int | None = Field(None, ge=1, le=1000, description="Events within the window.")
    new_value_of: str | None = Field(
        None,
        pattern=r"^([A-Za-z][A-Za-z0-9_]{0,63})?$",
        description="A data field whose value must be new for the customer (e.g. country).",
    )
    dedupe_key: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[^{}\x00]*(\{[A-Za-z][A-Za-z0-9_]{0,63}\}[^{}\x00]*)*$",
        description='Once per this key, e.g. "{period}"; empty: once per event.',
    )
    cap_count: int | None = Field(None, ge=1, le=1000)
    cap_seconds: int | None = Field(None, ge=1, le=366 * 24 * 3600)
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None
    critical: StrictBool | None = None
    topic: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Consent topic, e.g. data_cap."
    )
    send_message: StrictBool | None = None
    message: str | None = text_field(default=None, max_length=1000, blank=True)
    translations: TranslationsIn | None = None
    whatsapp_template: str | None = Field(
        None, pattern=r"^[a-z0-9_]{0,100}$", description="An approved WhatsApp template's name."
    )
    open_conversation: StrictBool | None = None
    tag: str | None = text_field(default=None, max_length=50, blank=True)
    alert_supervisors: StrictBool | None = None


class RuleCreateIn(RuleIn):
    name: str = text_field(max_length=100)
    condition: str = text_field(
        max_length=500,
        description="An expression over the event's data and the customer, e.g. "
        "`data_used_mb >= 0.8 * data_cap_mb` (docs/proactive.md).",
    )


def _fields(payload: RuleIn) -> dict[str, Any]:
    given = payload.model_dump(exclude_unset=True)
    fields = {k: v for k, v in given.items() if v is not None or k in NULLABLE}
    if payload.translations is not None:
        fields["translations"] = payload.translations.model_dump(by_alias=True, exclude_none=True)
    return fields


class CountsOut(Schema):
    fired: int
    sent: int
    deferred: int
    suppressed_consent: int
    suppressed_cap: int
    failed: int
    replies: int


class RuleOut(Schema):
    id: int
    name: str
    description: str
    enabled: bool
    builtin: str | None = Field(description="The built-in rule's slug; null for your own rules.")
    event_type: str
    condition: str
    window_seconds: int | None
    threshold: int
    new_value_of: str
    dedupe_key: str
    cap_count: int | None
    cap_seconds: int | None
    quiet_start: str | None
    quiet_end: str | None
    critical: bool
    topic: str
    send_message: bool
    message: str
    translations: dict[str, str]
    whatsapp_template: str
    open_conversation: bool
    tag: str
    alert_supervisors: bool
    counts: CountsOut


class RulesOut(Schema):
    rules: list[RuleOut]


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(30, ge=1, le=90, description="How far back to look.")


class PreviewExampleOut(Schema):
    customer_id: int
    customer_name: str
    event_id: str
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]


class PreviewOut(Schema):
    customers: int = Field(description="How many customers the rule would have fired for.")
    events_scanned: int
    examples: list[PreviewExampleOut] = Field(description="Up to 10 of them.")


def _clock(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def present_rule(rule: Rule, counts: RuleCounts) -> dict[str, Any]:
    return {
        **{name: getattr(rule, name) for name in RULE_FIELDS},
        "id": rule.pk,
        "builtin": rule.builtin,
        "quiet_start": _clock(rule.quiet_start),
        "quiet_end": _clock(rule.quiet_end),
        "counts": counts.__dict__,
    }


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


@rules_router.get(
    "",
    response={200: RulesOut, **errors(403)},
    summary="List the rules with their counts",
    operation_id="list_rules",
)
def list_rules(request: HttpRequest) -> Any:
    """Every rule, built-in first, with what each did (fired, sent, deferred, suppressed by
    consent or cap, failed, replies)."""
    actor = _actor(request)
    if not actor.is_admin:
        raise Forbidden("Only admins see proactive rules.")
    rules = list(Rule.objects.order_by("builtin", "name", "pk"))
    counts = rule_counts([r.pk for r in rules])
    return {"rules": [present_rule(r, counts[r.pk]) for r in rules]}


@rules_router.post(
    "",
    response={201: RuleOut, **errors(400, 403, 422)},
    summary="Create a rule",
    operation_id="create_rule",
)
def create_rule(request: HttpRequest, payload: RuleCreateIn) -> Any:
    """A new rule; `name` and `condition` are needed. Off unless `enabled` is true: try it
    with the preview first. 400 with the reason for a condition that is not a valid
    expression, a threshold without a window, a message missing, …"""
    rule = do_create_rule(_fields(payload), actor=_actor(request))
    return Status(201, present_rule(rule, rule_counts([rule.pk])[rule.pk]))


@rules_router.get(
    "/{rule_id}",
    response={200: RuleOut, **errors(404, 422)},
    summary="Get a rule",
    operation_id="get_rule",
)
def get_rule(request: HttpRequest, rule_id: RuleId) -> Any:
    """One rule with its counts (fired, sent, deferred, suppressed, failed)."""
    rule = access_rule(_actor(request), rule_id)
    return present_rule(rule, rule_counts([rule.pk])[rule.pk])


@rules_router.patch(
    "/{rule_id}",
    response={200: RuleOut, **errors(400, 403, 404, 409, 422)},
    summary="Change a rule",
    operation_id="update_rule",
)
def update_rule(request: HttpRequest, rule_id: RuleId, payload: RuleIn) -> Any:
    """Change the fields given (null clears a window, cap or quiet hours). 409 when the
    change leaves the rule with nothing to do or a message to send and none, or touches a
    built-in rule's (translated) message."""
    actor = _actor(request)
    rule = do_update_rule(access_rule(actor, rule_id), _fields(payload), actor=actor)
    return present_rule(rule, rule_counts([rule.pk])[rule.pk])


@rules_router.delete(
    "/{rule_id}",
    response={204: None, **errors(403, 404, 409, 422)},
    summary="Delete a rule",
    operation_id="delete_rule",
)
def delete_rule(request: HttpRequest, rule_id: RuleId) -> Any:
    """Delete one of your rules (its notices stay). Built-in rules answer 409: switch them
    off instead."""
    actor = _actor(request)
    do_delete_rule(access_rule(actor, rule_id), actor=actor)
    return Status(204, None)


@rules_router.post(
    "/{rule_id}/preview",
    response={200: PreviewOut, **errors(400, 404, 422)},
    summary="Try a rule on past events",
    operation_id="preview_rule",
)
def preview_rule(request: HttpRequest, rule_id: RuleId, payload: PreviewIn | None = None) -> Any:
    """Would this rule have fired, over the last `days` of stored events (at most 50,000)?
    The number of customers and up to 10 of them. Sends nothing, records nothing."""
    rule = access_rule(_actor(request), rule_id)
    try:
        found = preview(rule, days=payload.days if payload else 30)
    except ConditionError as exc:
        raise InvalidInput(str(exc)) from None
    return found.__dict__
