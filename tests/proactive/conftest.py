"""Helpers for proactive care's tests: an operator's system posting event batches."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_user
from teamline.proactive.actions import do_create_integration_key
from teamline.proactive.api import signature

# The outage tests reuse the bot's and the IVR's small worlds (tests/selfservice): the Nordlys
# team in Oslo, its SMS inbox with the bot on behind a loopback Twilio that captures every
# outbound message, the operator's telco service (the IVR's fixtures: test_outages.py).
from tests.selfservice.conftest import (  # noqa: F401 - fixtures
    _fresh_cache,
    nordlys,
    sms,
    telco,
    twilio,
)

EVENTS_URL = "/api/v1/events"


def usage(event_id: str, *, phone: str = "+4791234567", **extra: Any) -> dict[str, Any]:
    """A usage event as the telco backend sends it."""
    return {
        "id": event_id,
        "type": "usage",
        "occurred_at": "2026-12-05T09:30:00+01:00",
        "customer": {"phone": phone},
        "data": {"data_used_mb": 16_500, "data_cap_mb": 20_480},
        **extra,
    }


@pytest.fixture
def admin():
    return create_user("admin", role="admin")


@pytest.fixture
def events_client(admin) -> Client:
    """An admin's token scoped to `events` only."""
    _, secret = do_create_api_token(admin, name="billing system", actor=admin, scopes=["events"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def post_events(events_client) -> Callable[..., Any]:
    def post(events: Any, client: Client | None = None) -> Any:
        body = events if isinstance(events, bytes | str) else json.dumps({"events": events})
        return (client or events_client).post(EVENTS_URL, body, content_type="application/json")

    return post


@pytest.fixture
def signed_post(admin) -> Callable[..., Any]:
    """post(body, key=…, secret=…, timestamp=…) signed like an operator's system does."""
    made = do_create_integration_key("Network feed", actor=admin)

    def post(
        events: Any,
        *,
        key: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        sig: str | None = None,
    ) -> Any:
        body = json.dumps({"events": events}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return Client().post(
            EVENTS_URL,
            body,
            content_type="application/json",
            HTTP_X_TEAMLINE_KEY=key or made.key.key_id,
            HTTP_X_TEAMLINE_TIMESTAMP=stamp,
            HTTP_X_TEAMLINE_SIGNATURE=sig or signature(secret or made.secret, stamp, body),
        )

    post.key = made.key  # type: ignore[attr-defined]
    return post


@pytest.fixture
def daytime():
    """The story happens on a working day at 12:00 in Oslo (13:00 in Tallinn, 18:00 in
    Shanghai): outside every customer's quiet hours (21:00–08:00), whenever the suite runs.
    The clock ticks on from there."""
    with time_machine.travel(datetime(2026, 6, 10, 10, 0, tzinfo=UTC), tick=True):
        yield
