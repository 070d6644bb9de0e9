"""The Reports page (/desk/reports/) on the known day (conftest.py): a supervisor picks a range,
teams and channels and reads the same figures the KPI API gives for that selection, in
tables behind server-drawn charts, and downloads them as the KPI CSV. Who may see which team,
and clear answers to bad input."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from teamline.analytics.api import IntervalOut
from teamline.analytics.reports import CSV_COLUMNS
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.selfservice.actions import do_record_episode
from teamline.selfservice.models import EpisodeKind
from tests.analytics.conftest import utc
from tests.analytics.test_kpi_api import client_for
from tests.desk.page import Page
from tests.routing.support import arrives

pytestmark = pytest.mark.django_db

PAGE = "/desk/reports/"
CSV_URL = "/desk/reports/report.csv"
API = "/api/v1/analytics/kpis"


def desk_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cells(page: Page, table: str, field: str) -> list[str]:
    found = page.by_id(table)
    assert found is not None, f"no table #{table}"
    return [td.spoken_text().strip() for td in found.find_all("td", **{"data-field": field})]


def api_intervals(user, **query) -> list[dict]:
    response = client_for(user).get(API, query)
    assert response.status_code == 200, response.content
    return response.json()["intervals"]


def test_a_supervisor_picks_a_range_and_sees_the_figures_the_kpi_api_gives(day, clock):
    clock(utc(20, 12, 0))
    query = {"team": day.oslo.pk, "from": "2026-03-09", "to": "2026-03-11", "interval": "1d"}
    response = desk_for(day.siv).get(PAGE, query)
    assert response.status_code == 200, response.content
    page = Page(response.content)
    assert page.h1().text == "Reports"
    api = api_intervals(day.siv, **query)
    assert [int(v) for v in cells(page, "report-volumes", "offered")] == [0, 6, 0]
    assert [int(v) for v in cells(page, "report-volumes", "offered")] == [i["offered"] for i in api]
    assert [int(v) for v in cells(page, "report-volumes", "answered")] == [
        i["answered"] for i in api
    ]
    assert [int(v) for v in cells(page, "report-volumes", "abandoned")] == [
        i["abandoned"] for i in api
    ]
    # Service level 0.6 on the 10th (3 within T of 6 offered − 1 abandoned within 5 s).
    assert cells(page, "report-service", "service_level") == ["none", "60 %", "none"]
    assert api[1]["service_level"] == 0.6
    totals = page.by_id("report-totals")
    assert totals is not None
    assert [td.text for td in totals.find_all("td")][:3] == ["6", "4", "2"]
    # Each chart is a picture of the table under it: hidden from assistive technology, one
    # bar per figure drawn (nothing for a day without contacts), named by a legend in words.
    charts = page.root.find_all("svg")
    assert len(charts) == 2 and all(svg.get("aria-hidden") == "true" for svg in charts)
    bars = [r for r in charts[0].find_all("rect") if "bar" in (r.get("class") or "").split()]
    assert len(bars) == 9
    assert "Offered Answered Abandoned" in page.by_id("report-heading").parent.text
    # The same selection as CSV, linked from the page.
    assert page.link("Download as CSV").get("href").startswith(CSV_URL + "?team=")


def test_channels_and_several_teams_are_summed_as_the_api_would(day, clock):
    clock(utc(20, 12, 0))
    root = create_user("root", role="admin")
    query = {"from": "2026-03-10", "to": "2026-03-10", "interval": "1h"}
    both = desk_for(root).get(PAGE, {**query, "team": [day.oslo.pk, day.bergen.pk]})
    assert both.status_code == 200, both.content
    hours = [int(v) for v in cells(Page(both.content), "report-volumes", "offered")]
    oslo = api_intervals(root, team=day.oslo.pk, **query)
    bergen = api_intervals(root, team=day.bergen.pk, **query)
    assert hours == [a["offered"] + b["offered"] for a, b in zip(oslo, bergen, strict=True)]
    assert sum(hours) == 7  # six at Oslo, the transfer offered to Bergen
    # One channel: the chats only, as the API's channel filter counts them.
    chat = desk_for(root).get(PAGE, {**query, "team": day.oslo.pk, "channel": "webchat"})
    offered = [int(v) for v in cells(Page(chat.content), "report-volumes", "offered")]
    api = api_intervals(root, team=day.oslo.pk, channel="webchat", **query)
    assert offered == [i["offered"] for i in api] and sum(offered) == 6  # the call too
    sms = desk_for(root).get(PAGE, {**query, "team": day.oslo.pk, "channel": "sms"})
    assert set(cells(Page(sms.content), "report-volumes", "offered")) == {"0"}


def test_the_csv_is_the_kpi_csv_of_the_same_selection(day, clock):
    clock(utc(20, 12, 0))
    query = {"team": day.oslo.pk, "from": "2026-03-09", "to": "2026-03-11", "interval": "1d"}
    page_csv = desk_for(day.siv).get(CSV_URL, query)
    assert page_csv.status_code == 200
    assert page_csv["Content-Type"].startswith("text/csv")
    assert 'filename="report-2026-03-09-2026-03-11.csv"' in page_csv["Content-Disposition"]
    api_csv = client_for(day.siv).get(API + ".csv", query)
    assert page_csv.content == api_csv.content
    rows = list(csv.DictReader(io.StringIO(page_csv.content.decode())))
    assert [row["start"] for row in rows] == [
        "2026-03-09T00:00:00+01:00",
        "2026-03-10T00:00:00+01:00",
        "2026-03-11T00:00:00+01:00",
    ]
    assert rows[1]["offered"] == "6" and rows[1]["service_level"] == "0.6"
    assert tuple(rows[0]) == CSV_COLUMNS


def test_the_csv_columns_are_the_kpi_apis_fields():
    assert tuple(IntervalOut.model_fields) == CSV_COLUMNS


def test_agents_report_on_their_own_teams_and_get_404_for_another(day, clock):
    clock(utc(20, 12, 0))
    kari = desk_for(day.kari)
    own = kari.get(PAGE, {"team": day.oslo.pk, "from": "2026-03-10", "to": "2026-03-10"})
    assert own.status_code == 200
    assert cells(Page(own.content), "report-volumes", "offered") == ["6"]
    assert kari.get(PAGE, {"team": day.bergen.pk}).status_code == 404
    assert kari.get(CSV_URL, {"team": day.bergen.pk}).status_code == 404
    assert desk_for(day.siv).get(PAGE, {"team": day.bergen.pk}).status_code == 404
    stranger = desk_for(create_agent("ulf", team=create_team("Tromsø")))
    assert stranger.get(PAGE, {"team": day.oslo.pk}).status_code == 404
    assert stranger.get(PAGE, {"team": 999_999}).status_code == 404
    assert Client().get(PAGE).status_code == 302  # to the sign-in page


def test_without_a_choice_the_page_shows_the_first_team_over_the_last_week(day, clock):
    clock(utc(12, 12, 0))
    page = Page(desk_for(day.siv).get(PAGE).content)
    assert page.field("First day").get("value") == "2026-03-06"
    assert page.field("Last day").get("value") == "2026-03-12"
    assert cells(page, "report-volumes", "offered") == ["0", "0", "0", "0", "6", "0", "0"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "must not be before"),
        ({"from": "2026-03-01", "to": "2026-03-10", "interval": "1h"}, "at most 7 days"),
        ({"from": "2025-01-01", "to": "2026-03-10", "interval": "1d"}, "at most 92 days"),
        ({"from": "2026-02-30"}, "2026-03-10"),
        ({"from": "yesterday"}, "2026-03-10"),
        ({"from": "2026-03-10\x00"}, ""),
        ({"from": "1999-12-31", "to": "2000-01-01"}, "between 2000 and 2099"),
        ({"interval": "15m"}, "hour, day, week or month"),
        ({"channel": "fax"}, "choose channels from the list"),
    ],
)
def test_bad_input_is_a_400_with_the_reason_on_the_form(day, clock, query, says):
    clock(utc(20, 12, 0))
    response = desk_for(day.siv).get(PAGE, {"team": day.oslo.pk, **query})
    assert response.status_code == 400, response.content
    page = Page(response.content)
    (alert,) = page.alerts()
    assert says in alert
    assert page.by_id("report-volumes") is None
    csv_response = desk_for(day.siv).get(CSV_URL, {"team": day.oslo.pk, **query})
    assert csv_response.status_code in (400, 422)  # 422: text that is not text (NUL)


def test_teams_in_different_time_zones_are_reported_separately(day, clock):
    clock(utc(20, 12, 0))
    shenzhen = create_team("Shenzhen", timezone="Asia/Shanghai")
    root = create_user("root", role="admin")
    response = desk_for(root).get(PAGE, {"team": [day.oslo.pk, shenzhen.pk]})
    assert response.status_code == 400
    assert "different time zones" in Page(response.content).alerts()[0]
    assert desk_for(root).get(PAGE, {"team": "x" * 30}).status_code in (400, 404)
    too_many = {"team": [day.oslo.pk] * 25}
    assert desk_for(root).get(PAGE, too_many).status_code == 400


def test_deflection_is_the_supervisors_figure_in_the_api_and_the_report(day, clock):
    """11 March: two Oslo customers ask their balance by SMS keyword; one writes to the team
    two hours later (not deflected). A Bergen customer's keyword answer is deflected."""
    clock(utc(11, 10, 0))
    sms = {"channel": "sms", "subject": "balance", "now": utc(11, 10, 0)}
    nora, per = create_customer(team=day.oslo), create_customer(team=day.oslo)
    do_record_episode(EpisodeKind.SMS_KEYWORD, customer=nora, **sms)
    do_record_episode(EpisodeKind.SMS_KEYWORD, customer=per, **sms)
    do_record_episode(EpisodeKind.SMS_KEYWORD, customer=create_customer(team=day.bergen), **sms)
    arrives(per, at=utc(11, 12, 0))
    clock(utc(20, 12, 0))
    query = {"team": day.oslo.pk, "from": "2026-03-11", "to": "2026-03-11"}
    assert api_intervals(day.siv, **query)[0]["deflection"] == 0.5
    rows = list(csv.DictReader(io.StringIO(desk_for(day.siv).get(CSV_URL, query).text)))
    assert rows[0]["deflection"] == "0.5"
    # Agents do not read deflection (an empty cell), in the API as in the report.
    assert api_intervals(day.kari, **query)[0]["deflection"] is None
    rows = list(csv.DictReader(io.StringIO(desk_for(day.kari).get(CSV_URL, query).text)))
    assert rows[0]["deflection"] == ""
    # Both teams: 2 of 3 judged episodes deflected.
    root = create_user("root", role="admin")
    both = desk_for(root).get(CSV_URL, {**query, "team": [day.oslo.pk, day.bergen.pk]})
    rows = list(csv.DictReader(io.StringIO(both.text)))
    assert float(rows[0]["deflection"]) == pytest.approx(2 / 3)
