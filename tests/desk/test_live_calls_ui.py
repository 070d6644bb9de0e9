"""The supervisors' "Live calls" page, found by role and name: a captioned table of their
teams' calls with durations read as words, refreshed live and by a button, "Listen" on phone
calls an agent answered (and "Stop"), browser calls shown without it and with the reason.
Agents may not open it; other teams' calls are neither shown nor reachable by id."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.calls import monitor as monitoring
from teamline.calls.actions import do_accept_call, do_mark_call_connected
from teamline.calls.models import Call, CallMedium, CallMonitor, MonitorState
from teamline.calls.monitor import BROWSER_CALL_REFUSAL
from teamline.conversations.models import Inbox
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from tests.calls.loopback_rest import LoopbackRest
from tests.calls.supervision_support import call_from, quiet_phone  # noqa: F401 - a fixture

from .page import Page
from .support import get_page

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet_phone")]

ACCOUNT = "AC" + "2" * 32
TOKEN = "voice-auth-token-desk"
LIVE = "/desk/calls/live/"
HTMX = {"HX-Request": "true", "HX-Target": "live-calls"}


@pytest.fixture
def rest():
    with LoopbackRest(ACCOUNT, TOKEN) as server, override_settings(PUBLIC_URL="http://testserver"):
        yield server


@pytest.fixture
def north():
    return create_team("North")


@pytest.fixture
def south():
    return create_team("South")


@pytest.fixture
def kari(north):
    return create_agent("kari", team=north, presence="available", display_name="Kari")


@pytest.fixture
def siv(north, monkeypatch):
    siv = create_user("siv", role=Role.SUPERVISOR, supervises=north, display_name="Siv")
    monkeypatch.setattr(
        monitoring, "monitor_endpoint", lambda user: "+4790000001" if user == siv else ""
    )
    return siv


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def phone_call(north, kari, rest) -> Call:
    """Nora has been talking to Kari for 4 min 12 s."""
    inbox = Inbox(
        name="North phone",
        kind="voice",
        default_team=north,
        config={"api_base": rest.base, "from_number": "+4721000000"},
    )
    inbox.credentials = {"account_sid": ACCOUNT, "auth_token": TOKEN}
    inbox.save()
    call = call_from(create_customer(team=north, name="Nora"), inbox=inbox, sid="CA" + "c" * 32)
    call = do_mark_call_connected(do_accept_call(call, actor=kari))
    Call.objects.filter(pk=call.pk).update(
        state_changed_at=timezone.now() - timedelta(minutes=4, seconds=12)
    )
    return call


def listen_name(agent: str, customer: str) -> str:
    return f"Listen to {agent}'s call with {customer}"


def test_a_supervisor_reads_the_live_calls_of_their_team_in_a_captioned_table(
    phone_call, siv, south
):
    call_from(create_customer(team=south, name="Siri"))  # another team's caller
    supervisor = client_for(siv)
    inbox = get_page(supervisor, "/desk/")
    page = get_page(supervisor, inbox.link("Live calls").get("href"))

    assert page.link("Live calls").get("aria-current") == "page"
    (table,) = page.root.find_all("table")
    assert table.find_all("caption")[0].text == "Live calls of your teams, oldest first"
    headers = table.find_all("thead")[0].find_all("th")
    assert {th.get("scope") for th in headers} == {"col"}
    assert [th.text for th in headers] == [
        "Customer",
        "Agent",
        "Team",
        "Medium",
        "State",
        "In this state",
        "Waited in line",
        "Place in line",
        "Listen in",
    ]
    (row,) = table.find_all("tbody")[0].find_all("tr")
    cells = [row.find_all("th")[0], *row.find_all("td")]
    assert cells[0].get("scope") == "row" and cells[0].text == "Nora"
    assert [c.text for c in cells[1:5]] == ["Kari", "North", "Phone", "Active"]
    (in_state,) = cells[5].find_all("time")
    assert in_state.get("datetime") in {"PT4M12S", "PT4M13S"}
    assert in_state.text in {"4 min 12 s", "4 min 13 s"}
    assert cells[7].text == "Not in line"
    assert page.button(listen_name("Kari", "Nora"))
    summary = page.by_id("live-calls-summary").text
    assert summary.startswith("1 live call: 0 waiting, 1 in progress. As of ")
    assert "Siri" not in page.text


def test_agents_cannot_open_it_and_admins_see_every_team(phone_call, kari, south):
    siri = call_from(create_customer(team=south, name="Siri"))
    agent = client_for(kari)
    assert get_page(agent, "/desk/").all("link", "Live calls") == []
    assert agent.get(LIVE).status_code == 403
    admin = get_page(client_for(create_user(role=Role.ADMIN)), LIVE)
    assert {a.text for a in admin.root.find_all("a") if a.text in {"Nora", "Siri"}} == {
        "Nora",
        "Siri",
    }
    assert siri.state == "waiting"


def test_the_refresh_button_and_live_refreshes_return_the_region(phone_call, siv):
    supervisor = client_for(siv)
    page = get_page(supervisor, LIVE)
    refresh = page.button("Refresh")
    assert refresh.get("hx-get") == LIVE and refresh.get("hx-target") == "#live-calls"

    by_button = supervisor.get(LIVE, headers=HTMX)
    assert by_button.status_code == 200 and b"<html" not in by_button.content
    assert json.loads(by_button["HX-Trigger"]) == {
        "desk:announce": "Live calls updated. 1 live call: 0 waiting, 1 in progress."
    }
    # desk.js's own refresh after a call event: the same region, announced by desk.js only
    # when the summary changed.
    live = supervisor.get(LIVE, headers={**HTMX, "X-Desk-Refresh": "1"})
    assert "HX-Trigger" not in live
    assert Page(live.content).button(listen_name("Kari", "Nora"))


def test_listen_then_stop_from_the_table(phone_call, siv, rest):
    supervisor = client_for(siv)
    page = get_page(supervisor, LIVE)
    form = page.form_of(page.button(listen_name("Kari", "Nora")))

    response = supervisor.post(form.get("hx-post"), {"mode": "listen"}, headers=HTMX)

    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"])["desk:announce"] == (
        "Calling you on +4790000001: answer to listen to Kari's call with Nora."
    )
    (placed,) = rest.requests
    assert placed.form["To"] == "+4790000001"
    region = Page(response.content)
    assert "Calling you on +4790000001…" in region.text
    stop = region.button("Stop listening to Kari's call with Nora")

    stopped = supervisor.post(region.form_of(stop).get("hx-post"), headers=HTMX)

    assert stopped.status_code == 200
    assert json.loads(stopped["HX-Trigger"])["desk:announce"] == (
        "You stopped listening to Kari's call with Nora."
    )
    assert rest.requests[-1].form == {"Status": "completed"}
    assert CallMonitor.objects.get().state == MonitorState.ENDED
    assert Page(stopped.content).button(listen_name("Kari", "Nora"))


def test_a_browser_call_is_shown_without_listen_and_refused_with_the_reason(north, kari, siv):
    video = call_from(create_customer(team=north, name="Vera"), CallMedium.VIDEO)
    do_mark_call_connected(do_accept_call(video, actor=kari))
    supervisor = client_for(siv)
    page = get_page(supervisor, LIVE)
    assert page.all("button", listen_name("Kari", "Vera")) == []
    assert "Not possible: browser call" in page.text
    assert "never pass through Teamline" in page.by_id("live-calls-support").text

    refused = supervisor.post(f"/desk/calls/{video.pk}/monitor/", headers=HTMX)

    assert refused.status_code == 400
    assert Page(refused.content).alerts() == [BROWSER_CALL_REFUSAL]
    assert not CallMonitor.objects.exists()


def test_other_teams_and_agents_cannot_listen_by_id(phone_call, kari, south, rest):
    url = reverse("desk:monitor_call", args=[phone_call.pk])
    elsewhere = client_for(create_user(role=Role.SUPERVISOR, supervises=south))
    assert elsewhere.post(url).status_code == 404
    assert client_for(kari).post(url).status_code == 403
    assert elsewhere.post(reverse("desk:stop_monitoring", args=[phone_call.pk])).status_code == 404
    assert rest.requests == [] and not CallMonitor.objects.exists()


def test_without_javascript_listen_redirects_back_with_a_message(phone_call, siv, rest):
    supervisor = client_for(siv)
    response = supervisor.post(reverse("desk:monitor_call", args=[phone_call.pk]), follow=True)
    page = Page(response.content)
    assert response.redirect_chain == [(LIVE, 302)]
    assert "Calling you on +4790000001: answer to listen to Kari's call with Nora." in page.text
    assert page.button("Stop listening to Kari's call with Nora")
    again = supervisor.post(reverse("desk:monitor_call", args=[phone_call.pk]), follow=True)
    assert "You are already listening to this call." in Page(again.content).text
    assert len(rest.requests) == 1


def test_a_live_refresh_costs_the_same_queries_for_more_calls(north, kari, siv):
    supervisor = client_for(siv)
    call_from(create_customer(team=north))  # rings for Kari
    call_from(create_customer(team=north))  # waits in line
    headers = {**HTMX, "X-Desk-Refresh": "1"}
    supervisor.get(LIVE, headers=headers)  # warm the session and routing's caches
    with CaptureQueriesContext(connection) as two:
        assert supervisor.get(LIVE, headers=headers).status_code == 200
    for _ in range(5):
        call_from(create_customer(team=north))
    with CaptureQueriesContext(connection) as seven:
        response = supervisor.get(LIVE, headers=headers)
    assert len(Page(response.content).root.find_all("tbody")[0].find_all("tr")) == 7
    assert len(seven.captured_queries) == len(two.captured_queries)
