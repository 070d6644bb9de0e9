"""The telco backend: the operator's systems answer who a caller is, their balance, data left and
outages — signed, fast or not at all, and never a crash for the IVR or bot that asked."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from teamline.desk import demo
from teamline.selfservice import telco
from teamline.selfservice.telco import (
    CircuitBreaker,
    DemoTelcoBackend,
    HttpTelcoBackend,
    InvalidNumber,
    SubscriberNotFound,
    TelcoUnavailable,
)

from .fake_telco import FakeTelco

SECRET = "integration-secret-0123456789"
NORA = {
    "msisdn": "+4791234567",
    "name": "Nora Johansen",
    "language": "nb",
    "region": "Oslo",
    "plan": "Fri 10 GB",
    "balance": {"balance": "187.50", "currency": "NOK"},
    "usage": {"data_used_mb": 8200, "data_cap_mb": 10240, "period_ends": "2026-12-31"},
}
OUTAGE = {
    "id": "OUT-1",
    "title": "Mobile data down around Grünerløkka",
    "regions": ["Oslo", "Oslo Øst"],
    "started_at": "2026-12-05T06:00:00Z",
    "expected_end": None,
}


@pytest.fixture
def fake():
    with FakeTelco(SECRET, subscribers={NORA["msisdn"]: NORA}, outages=[OUTAGE]) as server:
        yield server


def backend_for(fake: FakeTelco, **kwargs) -> HttpTelcoBackend:
    return HttpTelcoBackend(fake.url, SECRET, **kwargs)


def test_the_operator_service_tells_who_calls_their_balance_and_data_left(fake):
    backend = backend_for(fake)

    subscriber = backend.subscriber("+47 912 34 567")
    balance = backend.balance("+4791234567")
    usage = backend.data_usage("+4791234567")

    assert (subscriber.name, subscriber.language, subscriber.region) == (
        "Nora Johansen",
        "nb",
        "Oslo",
    )
    assert subscriber.msisdn == "+4791234567"
    assert balance == telco.Balance(Decimal("187.50"), "NOK")
    assert (usage.used_mb, usage.cap_mb, usage.left_mb) == (8200, 10240, 2040)
    assert usage.period_ends == date(2026, 12, 31)
    assert round(usage.used_share, 2) == 0.8


def test_every_request_is_signed_and_the_number_is_url_encoded(fake):
    backend = backend_for(fake)
    backend.balance("+4791234567")
    backend.outages("Oslo Øst")

    assert [r["signed"] for r in fake.requests] == [True, True]
    assert fake.requests[0]["path"] == "/telco/v1/subscribers/%2B4791234567/balance"
    assert fake.requests[1]["path"] == "/telco/v1/outages?region=Oslo%20%C3%98st"


def test_a_wrong_secret_is_refused_by_the_operator_and_reads_as_unavailable(fake):
    with pytest.raises(TelcoUnavailable, match="401"):
        HttpTelcoBackend(fake.url, "not-the-secret-at-all").balance("+4791234567")
    assert fake.requests[0]["signed"] is False


def test_outages_are_those_of_the_callers_region(fake):
    backend = backend_for(fake)

    [outage] = backend.outages("Oslo")
    assert outage.title == "Mobile data down around Grünerløkka"
    assert outage.expected_end is None
    assert backend.outages("Bergen") == []


def test_an_unknown_number_is_not_found_and_a_non_number_is_refused_before_any_request(fake):
    backend = backend_for(fake)
    with pytest.raises(SubscriberNotFound):
        backend.balance("+4790000000")
    with pytest.raises(InvalidNumber):
        backend.balance("+47 12")
    with pytest.raises(InvalidNumber):
        backend.balance("../../admin")
    assert len(fake.requests) == 1


def test_a_slow_backend_is_given_up_on_after_the_timeout(fake):
    fake.delay = 1.0
    backend = backend_for(fake, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(TelcoUnavailable, match="unreachable"):
        backend.balance("+4791234567")
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b'{"error": "db down"}', "answered 500"),
        (200, b"<html>maintenance</html>", "not JSON"),
        (200, b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (200, b'{"balance": 187.5, "currency": "NOK"}', "decimal string"),
        (200, b'{"balance": "1e999999", "currency": "NOK"}', "decimal string"),
        (200, b'{"balance": "NaN", "currency": "NOK"}', "decimal string"),
        (200, b'{"balance": "10", "currency": "kroner"}', "ISO 4217"),
    ],
)
def test_a_broken_answer_is_unavailable_never_a_crash(fake, status, body, reason):
    fake.status, fake.body = status, body
    with pytest.raises(TelcoUnavailable, match=reason):
        backend_for(fake).balance("+4791234567")


@pytest.mark.parametrize(
    "usage",
    [
        {"data_used_mb": "8200", "data_cap_mb": 10240, "period_ends": "2026-12-31"},
        {"data_used_mb": 10**30, "data_cap_mb": 10240, "period_ends": "2026-12-31"},
        {"data_used_mb": -1, "data_cap_mb": 10240, "period_ends": "2026-12-31"},
        {"data_used_mb": True, "data_cap_mb": 10240, "period_ends": "2026-12-31"},
        {"data_used_mb": 1, "data_cap_mb": 10240, "period_ends": "2026-02-30"},
    ],
)
def test_usage_outside_the_documented_shape_is_unavailable(fake, usage):
    fake.subscribers[NORA["msisdn"]] = {**NORA, "usage": usage}
    with pytest.raises(TelcoUnavailable):
        backend_for(fake).data_usage("+4791234567")


def test_text_databases_refuse_is_cleaned(fake):
    fake.subscribers[NORA["msisdn"]] = {**NORA, "name": "No\u0000ra \ud800Johansen"}
    name = backend_for(fake).subscriber("+4791234567").name
    assert name == "Nora ?Johansen"
    name.encode("utf-8")  # storable anywhere


def test_after_five_failures_the_circuit_opens_and_callers_stop_waiting(fake):
    clock = [1000.0]
    breaker = CircuitBreaker(clock=lambda: clock[0])
    fake.status = 503
    backend = backend_for(fake, breaker=breaker)

    for _ in range(5):
        with pytest.raises(TelcoUnavailable, match="answered 503"):
            backend.balance("+4791234567")
    assert breaker.is_open and len(fake.requests) == 5

    with pytest.raises(TelcoUnavailable, match="circuit open"):
        backend.balance("+4791234567")
    assert len(fake.requests) == 5  # no request while open

    fake.status = None
    clock[0] += 31  # after the cool-down one trial goes through, and closes the circuit
    assert backend.balance("+4791234567").amount == Decimal("187.50")
    assert not breaker.is_open and len(fake.requests) == 6


def test_a_failed_trial_opens_the_circuit_again(fake):
    clock = [0.0]
    breaker = CircuitBreaker(clock=lambda: clock[0], failures_to_open=1)
    fake.status = 500
    backend = backend_for(fake, breaker=breaker)
    with pytest.raises(TelcoUnavailable):
        backend.balance("+4791234567")
    clock[0] += 31
    with pytest.raises(TelcoUnavailable, match="answered 500"):
        backend.balance("+4791234567")
    with pytest.raises(TelcoUnavailable, match="circuit open"):
        backend.balance("+4791234567")


def test_not_found_answers_keep_the_circuit_closed(fake):
    breaker = CircuitBreaker(failures_to_open=2)
    backend = backend_for(fake, breaker=breaker)
    for _ in range(5):
        with pytest.raises(SubscriberNotFound):
            backend.balance("+4790000000")
    assert not breaker.is_open


def test_the_demo_operator_knows_every_demo_customer():
    backend = DemoTelcoBackend()
    for name, _language, _team, phone, _text in demo.CUSTOMERS:
        assert backend.subscriber(phone).name == name
        assert backend.balance(phone).currency in {"NOK", "CNY"}
        assert backend.data_usage(phone).cap_mb > 0
    assert [o.id for o in backend.outages("oslo")] == ["OUT-2026-0412"]
    assert backend.outages("Guangdong") == []
    with pytest.raises(SubscriberNotFound):
        backend.balance("+4790000000")


def test_the_backend_follows_the_settings(settings, fake):
    settings.TEAMLINE = {**settings.TEAMLINE, "TELCO_BACKEND": "demo"}
    assert isinstance(telco.telco_backend(), DemoTelcoBackend)
    settings.TEAMLINE = {
        **settings.TEAMLINE,
        "TELCO_BACKEND": "http",
        "TELCO_URL": fake.url,
        "TELCO_SECRET": SECRET,
    }
    backend = telco.telco_backend()
    assert isinstance(backend, HttpTelcoBackend)
    assert backend is telco.telco_backend()  # one per process: its breaker remembers
    assert backend.balance("+4791234567").currency == "NOK"


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({"TELCO_BACKEND": "soap"}, "teamline.E101"),
        ({"TELCO_BACKEND": "http", "TELCO_URL": "", "TELCO_SECRET": "x" * 32}, "teamline.E102"),
        (
            {"TELCO_BACKEND": "http", "TELCO_URL": "https://t.example", "TELCO_SECRET": "short"},
            "teamline.E103",
        ),
    ],
)
def test_a_backend_that_cannot_work_fails_the_system_check(settings, conf, error):
    settings.TEAMLINE = {**settings.TEAMLINE, **conf}
    with pytest.raises(SystemCheckError, match=error):
        call_command("check")
