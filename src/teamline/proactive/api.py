"""Proactive care in the JSON API: POST /api/v1/events and the rules at /api/v1/rules
(docs/proactive.md)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal, cast

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import ConfigDict, StrictBool

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.errors import Forbidden, InvalidInput

from .actions import RULE_FIELDS, do_create_rule, do_delete_rule, do_update_rule
from .engine import preview
from .expressions import ConditionError
from .models import Rule
from .queries import RuleCounts, access_rule, rule_counts

router = Router(tags=["proactive"])


# --- Rules: /api/v1/rules (admins; mounted with ADMIN_AUTH) -----------------------------------

rules_router = Router(tags=["rules"])

RuleId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The rule's id.")]
EVENT_TYPES = Literal["", "usage", "billing", "network", "device", "custom"]
ClockTime = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", description="Local time, e.g. 21:00.")]


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
    new_value_of: str | None = text_field(default=None, max_length=64, blank=True)
    dedupe_key: str | None = text_field(
        default=None, max_length=200, blank=True, description='e.g. "{period}"; empty: per event.'
    )
    cap_count: int | None = Field(None, ge=1, le=1000)
    cap_seconds: int | None = Field(None, ge=1, le=366 * 24 * 3600)
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None
    critical: StrictBool | None = None
    topic: str | None = text_field(default=None, max_length=32)
    send_message: StrictBool | None = None
    message: str | None = text_field(default=None, max_length=1000, blank=True)
    translations: dict[str, Annotated[str, Field(max_length=1000)]] | None = Field(
        None, max_length=len(settings.LANGUAGES)
    )
    whatsapp_template: str | None = text_field(default=None, max_length=100, blank=True)
    open_conversation: StrictBool | None = None
    tag: str | None = text_field(default=None, max_length=50, blank=True)
    alert_supervisors: StrictBool | None = None


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
def create_rule(request: HttpRequest, payload: RuleIn) -> Any:
    """A new rule; `name` and `condition` are needed. Off unless `enabled` is true: try it
    with the preview first. 400 with the reason for a condition that is not a valid
    expression, a threshold without a window, a message missing, …"""
    rule = do_create_rule(payload.model_dump(exclude_unset=True), actor=_actor(request))
    return Status(201, present_rule(rule, rule_counts([rule.pk])[rule.pk]))


@rules_router.get(
    "/{rule_id}",
    response={200: RuleOut, **errors(404, 422)},
    summary="Get a rule",
    operation_id="get_rule",
)
def get_rule(request: HttpRequest, rule_id: RuleId) -> Any:
    rule = access_rule(_actor(request), rule_id)
    return present_rule(rule, rule_counts([rule.pk])[rule.pk])


@rules_router.patch(
    "/{rule_id}",
    response={200: RuleOut, **errors(400, 403, 404, 422)},
    summary="Change a rule",
    operation_id="update_rule",
)
def update_rule(request: HttpRequest, rule_id: RuleId, payload: RuleIn) -> Any:
    """Change the fields given. A built-in rule keeps its (translated) message."""
    actor = _actor(request)
    rule = do_update_rule(
        access_rule(actor, rule_id), payload.model_dump(exclude_unset=True), actor=actor
    )
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
