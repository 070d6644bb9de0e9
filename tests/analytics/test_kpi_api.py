"""GET /api/v1/analytics/kpis: the known day (conftest.py) as JSON and CSV, who may read it,
and clear 4xx answers to bad requests."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_agent, create_team, create_user
from tests.analytics.conftest import utc

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/kpis"


def client_for(user) -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_supervisor_reads_the_day_by_hour_in_the_teams_time_zone(day, clock):
    clock(utc(20, 12, 0))
    response = client_for(day.siv).get(
        URL, {"team": day.oslo.pk, "from": "2026-03-10", "to": "2026-03-10", "interval": "1h"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "Europe/Oslo" and body["interval"] == "1h"
    hours = body["intervals"]
    assert len(hours) == 24
    ten = next(hour for hour in hours if hour["start"] == "2026-03-10T10:00:00+01:00")
    assert {k: ten[k] for k in ("offered", "answered", "abandoned", "service_level")} == {
        "offered": 5,
        "answered": 3,
        "abandoned": 2,
        "service_level": 0.5,
    }
    assert ten["asa_seconds"] == 55.0 and ten["aht_seconds"] == 390.0
    assert ten["csat"] == 3.5 and ten["nps"] == 50.0
    assert ten["fcr"] == 1.0 and ten["fcr_status"] == "final"
    assert ten["deflection"] is None  # no self-service episodes that day
    assert sum(hour["offered"] for hour in hours) == 6


def test_fcr_is_pending_until_a_week_has_passed(day, clock):
    clock(utc(11, 12, 0))
    response = client_for(day.siv).get(URL, {"team": day.oslo.pk, "from": "2026-03-10"})
    (whole,) = response.json()["intervals"]
    assert whole["offered"] == 6
    assert whole["fcr"] is None and whole["fcr_status"] == "pending"


def test_csv_by_accept_header_and_by_suffix(day, clock):
    clock(utc(20, 12, 0))
    query = {"team": day.oslo.pk, "from": "2026-03-10", "to": "2026-03-10"}
    siv = client_for(day.siv)
    by_header = siv.get(URL, query, headers={"Accept": "text/csv"})
    by_suffix = siv.get(URL + ".csv", query)
    for response in (by_header, by_suffix):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert len(rows) == 1
        assert rows[0]["start"] == "2026-03-10T00:00:00+01:00"
        assert rows[0]["offered"] == "6" and rows[0]["service_level"] == "0.6"
        assert rows[0]["fcr_status"] == "final"


def test_agents_read_their_teams_and_their_own_figures_only(day, clock):
    clock(utc(20, 12, 0))
    kari = client_for(day.kari)
    query = {"team": day.oslo.pk, "from": "2026-03-10"}
    assert kari.get(URL, query).json()["intervals"][0]["offered"] == 6
    own = kari.get(URL, {**query, "agent": day.kari.pk}).json()["intervals"][0]
    assert own["answered"] == 4 and own["abandoned"] == 0
    colleague = create_agent("per", team=day.oslo)
    assert kari.get(URL, {**query, "agent": colleague.pk}).status_code == 404
    assert kari.get(URL, {"team": day.bergen.pk, "from": "2026-03-10"}).status_code == 404
    siv = client_for(day.siv)
    assert siv.get(URL, {**query, "agent": day.kari.pk}).status_code == 200
    assert siv.get(URL, {"team": day.bergen.pk}).status_code == 404


def test_admins_read_every_team_and_strangers_nothing(day, clock):
    clock(utc(20, 12, 0))
    admin = client_for(create_user("root", role="admin"))
    response = admin.get(URL, {"team": day.bergen.pk, "from": "2026-03-10"})
    assert response.status_code == 200
    assert response.json()["intervals"][0]["offered"] == 1
    stranger = client_for(create_agent("ulf", team=create_team("Tromsø")))
    assert stranger.get(URL, {"team": day.oslo.pk}).status_code == 404
    assert stranger.get(URL, {"team": 999_999}).status_code == 404
    assert Client().get(URL, {"team": day.oslo.pk}).status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, 400, "after"),
        ({"from": "2026-01-01", "to": "2026-03-01", "interval": "15m"}, 400, "at most 31"),
        ({"from": "2024-01-01", "to": "2026-03-01", "interval": "1d"}, 400, "at most 400"),
        ({"from": "yesterday"}, 422, ""),
        ({"from": "1999-12-31"}, 400, "between 2000 and 2100"),
        ({"from": "2026-02-30"}, 400, "YYYY-MM-DD"),
        ({"from": "2026-03-10\x00"}, 422, ""),
        ({"interval": "2h"}, 422, ""),
        ({"queue": "fax"}, 422, ""),
        ({"channel": "x" * 40}, 422, ""),
        ({"agent": 10**30}, 422, ""),
    ],
)
def test_bad_requests_get_a_clear_4xx(day, clock, query, status, says):
    clock(utc(20, 12, 0))
    response = client_for(day.siv).get(URL, {"team": day.oslo.pk, **query})
    assert response.status_code == status, response.content
    if says:
        assert says in response.json()["detail"]


def test_a_team_id_that_is_not_a_number_is_refused(day):
    response = client_for(day.siv).get(URL, {"team": "oslo"})
    assert response.status_code == 422
