"""The whole OpenAPI document against the server, with schemathesis and every check it has.

Each operation gets generated requests — valid ones (which must be accepted: 2xx, or 401/403/
404/409/429 for what a schema cannot know), invalid ones (which must be refused with a 4xx),
coverage of every boundary the schema states — sent in-process through the WSGI app as an
admin with a personal access token, and each answer is checked: never a 5xx, a declared
status, the declared body schema and content type. Bounded (a few examples per operation) so
it runs in the default suite; TEAMLINE_SCHEMATHESIS_EXAMPLES raises it for a deeper run.

The one thing a schema cannot state is whether a phone number exists in its country's
numbering plan: it says so with `"format": "phone"` (and a pattern for the shape), and this
run generates phone numbers from that format only. Nor can it relate two parameters: a period
whose `to` is not after its `from`, longer than its operation allows or outside 2000–2100 is
not counted as valid (the deflection figures refuse it with a 400). Nor can it say "in the
future": a token's `expires_at` must lie between now and ten years ahead (else a 400). Nor
that a proactive rule's `condition` is an expression of the rule language, or that a new rule
has something to do and, when it sends a message, the message (else a 400). Nor which bytes
make a file an agent may send (an image, a PDF, plain text): generated files are such files.
Nor that a canned reply's text names only the variables Teamline fills in. And an invalid
request whose invalid part is an empty list or object in the query string is not generated: it
is sent as no parameter at all, i.e. a valid request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from teamline.accounts.actions import do_create_api_token
from teamline.analytics.api import kpi_range
from teamline.core.errors import InvalidInput
from teamline.core.languages import languages
from teamline.customers.api import LANGUAGE_TAG_PATTERN as CUSTOMER_LANGUAGE_PATTERN
from teamline.proactive.expressions import ConditionError, compile_condition
from teamline.replies.rendering import unknown_variables
from teamline.search.text import parse_query

# A few examples per operation in every run; TEAMLINE_SCHEMATHESIS_EXAMPLES=200 for a deep run.
MAX_EXAMPLES = int(os.environ.get("TEAMLINE_SCHEMATHESIS_EXAMPLES", "10"))

schemathesis.openapi.format(
    "phone", st.sampled_from(["+4791234567", "+47 912 34 567", "+14155552671"])
)
# Nor can a schema say which bytes make an image or a PDF: files an agent sends are checked by
# their content (conversations/attachments.py), so valid requests carry real ones.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
schemathesis.openapi.format("binary", st.sampled_from([PDF, PNG, b"Plain words.\n"]))


def _a_period_the_server_takes(query: dict[str, Any]) -> bool:
    """`from` before `to`, at most 400 days apart, both in 2000–2100 (selfservice/api.py)."""
    try:
        ends = [
            datetime.fromisoformat(str(query[name])) if query.get(name) else None
            for name in ("from", "to")
        ]
    except ValueError:
        return True  # not a date-time: the schema's own business
    start, end = (e.replace(tzinfo=UTC) if e is not None and e.tzinfo is None else e for e in ends)
    end = end or datetime.now(UTC)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= end <= datetime(2100, 1, 1, tzinfo=UTC):
        return False
    start = start or end - timedelta(days=30)
    return datetime(2000, 1, 1, tzinfo=UTC) <= start < end <= start + timedelta(days=400)


def _an_expiry_the_server_takes(value: Any) -> bool:
    """A token's expiry: after now, within ten years (accounts.actions.do_create_api_token)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return True  # not a date-time: the schema's own business
    if moment.tzinfo is None:
        return True
    now = datetime.now(UTC)
    return now < moment < now + timedelta(days=3650)


def _a_rule_the_server_takes(method: str, body: dict[str, Any]) -> bool:
    """A condition in the rule language; a new rule with an action and, sending, a message."""
    if isinstance(body.get("condition"), str):
        try:
            compile_condition(body["condition"])
        except ConditionError:
            return False
    if method != "POST":
        return True
    sends = body.get("send_message") is not False
    translations = body.get("translations") or {}
    has_message = bool(str(body.get("message") or "").strip()) or any(
        str(text or "").strip() for text in translations.values()
    )
    acts = sends or body.get("open_conversation") or str(body.get("tag") or "").strip()
    return bool(acts or body.get("alert_supervisors")) and (has_message or not sends)


def _a_reply_the_server_takes(body: dict[str, Any]) -> bool:
    """A canned reply's texts name only the variables Teamline fills in (replies/rendering.py):
    any other name in double braces is a 400 by design."""
    texts = body.get("texts")
    if not isinstance(texts, dict):
        return True
    return not any(isinstance(t, str) and unknown_variables(t) for t in texts.values())


def _a_search_the_server_takes(query: dict[str, Any]) -> bool:
    """A query of only spaces, controls and symbols has nothing to search for: 400 by design
    (docs/desk-search.md), however valid its type."""
    try:
        parse_query(str(query.get("q", "")))
    except InvalidInput:
        return False
    return True


def _a_kpi_range_the_server_takes(query: dict[str, Any]) -> bool:
    """Real dates, `from` before `to`, within the interval's longest range
    (analytics/api.py): a schema-valid 2026-02-30 or a reversed range is a 400 by design."""
    filters = SimpleNamespace(
        start=query.get("from"), end=query.get("to"), interval=query.get("interval", "1d")
    )
    try:
        kpi_range(filters, ZoneInfo("Europe/Oslo"), datetime.now(UTC))  # type: ignore[arg-type]
    except (InvalidInput, KeyError):
        return False
    return True


def _a_language_the_server_takes(path: str, value: Any) -> bool:
    """The desk's language is one of the six (or empty); a customer's a tag that maps to one.
    A generator may still offer a string its pattern refuses (e.g. from the length bounds)."""
    if not isinstance(value, str):
        return False
    if path == "/api/v1/me/language":
        return value.strip().lower() in {"", *languages()}
    return re.fullmatch(CUSTOMER_LANGUAGE_PATTERN, value) is not None


def _a_day_the_server_takes(query: dict[str, Any]) -> bool:
    """Forecast and staffing: a day at most a year from today (analytics/api.py)."""
    try:
        day = date.fromisoformat(str(query.get("date")))
    except ValueError:
        return False
    return abs((day - datetime.now(UTC).date()).days) <= 365


def _sends_every_query_value(case: Any) -> bool:
    """False when a query value is an empty list or object: such a value is not sent at all
    (no `name=` in the URL), so an "invalid" one leaves a request that may be valid, and the
    server rightly accepts it (schemathesis 4.32 generated `team={}` for an optional integer
    and reported the 200 as accepted negative data)."""
    query = case.query if isinstance(case.query, dict) else {}
    return not any(isinstance(v, list | dict) and not v for v in query.values())


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    """Valid requests carry a phone number that exists and a period the server takes (see the
    module docstring); invalid ones send what makes them invalid."""
    if (
        case.meta is not None
        and not case.meta.generation.mode.is_positive
        and not _sends_every_query_value(case)
    ):
        return False
    if (
        isinstance(case.query, dict)
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _a_period_the_server_takes(case.query)
    ):
        return False
    body = case.body if isinstance(case.body, dict) else {}
    if (
        case.operation.path.startswith("/api/v1/rules")
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _a_rule_the_server_takes(case.method.upper(), body)
    ):
        return False
    if (
        body.get("expires_at")
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _an_expiry_the_server_takes(body["expires_at"])
    ):
        return False
    if (
        case.operation.path.startswith("/api/v1/canned-replies")
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _a_reply_the_server_takes(body)
    ):
        return False
    if (
        case.operation.path.startswith("/api/v1/analytics/kpis")
        and isinstance(case.query, dict)
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _a_kpi_range_the_server_takes(case.query)
    ):
        return False
    if (
        case.operation.path == "/api/v1/search"
        and isinstance(case.query, dict)
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and not _a_search_the_server_takes(case.query)
    ):
        return False
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if (
        positive
        and case.operation.path.endswith("/language")
        and not _a_language_the_server_takes(case.operation.path, body.get("language"))
    ):
        return False
    if (
        positive
        and case.operation.path in ("/api/v1/analytics/forecast", "/api/v1/analytics/staffing")
        and isinstance(case.query, dict)
        and not _a_day_the_server_takes(case.query)
    ):
        return False
    phone = body.get("phone", body.get("phone_number"))
    if not isinstance(phone, str) or case.meta is None:
        return True
    if not case.meta.generation.mode.is_positive:
        return True
    if not phone:  # /me/call-endpoint: no number is valid only with the softphone
        return body.get("call_via") == "client"
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, "NO"))
    except phonenumbers.NumberParseException:
        return False


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def admin_token(world: Any) -> Iterator[str]:
    """An admin's token over the API tests' small world. The requests run inside this test's
    transaction, so Django must not close the connection after each (as its test client)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield do_create_api_token(world.admin, name="schemathesis", actor=world.admin)[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_openapi_contract(case: Any, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
