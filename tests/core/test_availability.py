"""While the database is unreachable, every endpoint answers a fast 503 with Retry-After.

The outage is played here by a query wrapper that fails every statement the way psycopg does
when PostgreSQL is gone; the real thing (a TCP proxy in front of PostgreSQL, cut and restored)
is in tests/integration/test_faults.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.models import WebhookEvent
from teamline.connectors.wechat import WeChatConnector
from teamline.core import availability
from teamline.core.testing import create_agent, create_team

pytestmark = pytest.mark.django_db


def _unreachable(*args: Any) -> Any:
    try:
        raise psycopg.OperationalError("connection failed: Connection refused")
    except psycopg.OperationalError as exc:
        # Django wraps the driver's error the same way.
        raise OperationalError(str(exc)) from exc


@pytest.fixture
def database_down() -> Iterator[None]:
    with connection.execute_wrapper(_unreachable):
        yield


@pytest.fixture
def browser() -> Client:
    # A real browser sees the error page instead of the test client re-raising.
    return Client(raise_request_exception=False)


@pytest.fixture
def token() -> str:
    kari = create_agent("kari", team=create_team("Oslo"))
    _, secret = do_create_api_token(kari, name="tests", actor=kari)
    return secret


def test_the_api_answers_503_json_with_retry_after(browser, token, database_down):
    started = time.monotonic()
    response = browser.get("/api/v1/conversations", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)
    assert response.json()["code"] == "unavailable"
    assert "temporarily unavailable" in response.json()["detail"]


def test_a_desk_page_says_teamline_is_temporarily_unavailable_and_tries_again(browser):
    kari = create_agent("kari", team=create_team("Oslo"))
    browser.force_login(kari)
    with connection.execute_wrapper(_unreachable):
        response = browser.get("/desk/")
    assert response.status_code == 503
    assert response["Retry-After"]
    page = response.content.decode()
    assert "Teamline is temporarily unavailable" in page
    assert 'role="status"' in page and "Reconnecting" in page
    assert 'http-equiv="refresh"' in page  # comes back by itself


def test_a_webhook_is_not_acknowledged_but_answered_so_the_provider_retries(browser, database_down):
    response = browser.post(
        "/webhooks/telegram/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/",
        data=b'{"update_id": 1}',
        content_type="application/json",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)


def test_wechat_is_answered_only_after_it_gave_up_waiting_so_it_tries_again(
    browser, database_down, monkeypatch
):
    # WeChat retries a delivery it got no answer to within 5 s, and never one it got an
    # answer to; the wait is shortened here.
    monkeypatch.setattr(WeChatConnector, "silence_seconds", 0.4)
    started = time.monotonic()
    response = browser.post(
        "/webhooks/wechat/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/",
        data=b"<xml></xml>",
        content_type="text/xml",
    )
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 503


def test_nothing_was_stored_while_down_and_other_errors_stay_500(browser, monkeypatch):
    assert not WebhookEvent.objects.exists()

    def broken(request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr("teamline.connectors.views.webhook_inbox", broken)
    response = browser.post("/webhooks/telegram/x/", data=b"{}", content_type="application/json")
    assert response.status_code == 500


def test_health_says_whether_the_database_answers(browser):
    assert browser.get("/health/").json() == {"status": "ok"}
    with connection.execute_wrapper(_unreachable):
        response = browser.get("/health/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


@pytest.fixture
def fresh_state(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(availability, "_down_since", None)
    monkeypatch.setattr(availability, "_next_probe", 0.0)
    yield


def test_once_a_connection_failed_new_ones_are_refused_at_once_but_one_probes(fresh_state):
    availability.gate()  # up: nothing happens
    availability.record_failure()
    assert availability.is_down()
    with pytest.raises(availability.DatabaseUnavailable):
        availability.gate()
    # After PROBE_INTERVAL one caller goes through to try the database for real…
    availability._next_probe = time.monotonic() - 0.01
    availability.gate()
    # …and the others are still answered at once.
    with pytest.raises(availability.DatabaseUnavailable):
        availability.gate()
    availability.record_success()
    assert not availability.is_down()
    availability.gate()


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (psycopg.OperationalError("connection refused"), True),  # no SQLSTATE: client side
        (psycopg.errors.AdminShutdown("terminating connection"), True),  # 57P01
        (psycopg.errors.TooManyConnections("too many clients"), True),  # 53300
        (psycopg.errors.ConnectionFailure("lost"), True),  # 08006
        (psycopg.InterfaceError("the connection is closed"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (psycopg.errors.DiskFull("no space"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(error, unavailable):
    try:
        try:
            raise error
        except Exception as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        assert availability.is_unavailable_error(wrapped) is unavailable
