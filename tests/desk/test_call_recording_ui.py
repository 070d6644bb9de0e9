"""The PCI pause on the desk: the agent on a recorded call presses "Pause recording" in the
call panel while the customer reads their card number and "Resume recording" after; the button
says which it is (aria-pressed), the change is announced, and the conversation's call log
shows who paused and resumed the recording and when. A supervisor of the team has the toggle on
the conversation page. Staff of another team cannot reach the call; a colleague who is not on
it may not pause it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from teamline.calls.models import RecordingState
from teamline.core.testing import create_agent, create_team
from tests.calls.recording_support import (
    asked,
    quiet_phone_control,
    talking,
    voice_provider,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
AS_PANEL = {"Accept": "application/json"}  # how calls.js posts the panel's buttons


@pytest.fixture(autouse=True)
def phone_control() -> Iterator[None]:
    with quiet_phone_control(), override_settings(PUBLIC_URL="http://testserver"):
        yield


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def provider(client, oslo):
    with voice_provider(client, oslo, record=True) as provider:
        yield provider


@pytest.fixture
def rest(provider):
    return provider.rest


@pytest.fixture
def on_a_call(oslo, provider):
    kari = create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")
    call = talking(provider.inbox, kari)
    return oslo, kari, call


def url(call, action: str) -> str:
    return reverse("desk:call_recording", args=[call.pk, action])


def button(html: str, name: str) -> str:
    found = re.search(rf"<button[^>]*>{name}</button>", html)
    assert found, f"no {name!r} button in {html}"
    return found.group(0)


def test_the_agent_pauses_and_resumes_from_the_call_panel_and_hears_each_change(
    client: Client, on_a_call, rest
):
    _oslo, kari, call = on_a_call
    client.force_login(kari)
    panel = client.get("/desk/calls/panel").content.decode()
    assert 'aria-pressed="false"' in button(panel, "Pause recording")
    assert "Talking, recorded." in panel

    paused = client.post(url(call, "pause"), headers=AS_PANEL).json()

    assert paused["ok"] and paused["action"] == "recording_paused"
    assert paused["call"]["recording"] == "paused"
    assert paused["announce"] == "Recording paused. Nothing is recorded until you resume it."
    assert 'aria-pressed="true"' in button(paused["panel"], "Resume recording")
    assert "Talking, recording paused." in paused["panel"]
    assert asked(rest, "POST", f"/Recordings/{call.recording_sid}.json")[-1]["Status"] == "paused"

    resumed = client.post(url(call, "resume"), headers=AS_PANEL).json()

    assert resumed["announce"] == "Recording resumed."
    assert 'aria-pressed="false"' in button(resumed["panel"], "Pause recording")
    page = client.get(reverse("desk:conversation", args=[call.conversation_id])).content.decode()
    log = page[page.index('id="call-log-list"') :]
    assert log.index("Recording paused by Kari Nordmann") < log.index(
        "Recording resumed by Kari Nordmann"
    )
    assert "Pause recording" not in page  # the agent's toggle is in the panel, once


def test_a_refusal_is_answered_to_the_panel_with_its_reason(client: Client, on_a_call):
    oslo, kari, call = on_a_call
    client.force_login(kari)
    client.post(url(call, "pause"), headers=AS_PANEL)

    again = client.post(url(call, "pause"), headers=AS_PANEL)

    assert again.status_code == 400
    assert again.json()["error"] == "The recording is paused already."
    assert "Resume recording" in again.json()["panel"]
    client.force_login(create_agent("ola", team=oslo))
    refused = client.post(url(call, "resume"), headers=AS_PANEL)
    assert refused.status_code == 403 and "supervisor" in refused.json()["error"]


def test_without_javascript_the_pause_returns_to_the_conversation(client: Client, on_a_call):
    _oslo, kari, call = on_a_call
    client.force_login(kari)

    response = client.post(url(call, "pause"))

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:conversation", args=[call.conversation_id])
    call.refresh_from_db()
    assert call.recording_state == RecordingState.PAUSED


def test_a_refused_pause_is_explained_and_changes_nothing(client: Client, on_a_call, rest):
    _oslo, kari, call = on_a_call
    client.force_login(kari)
    rest.down = True

    response = client.post(url(call, "pause"), headers=HTMX)

    assert response.status_code == 400
    assert "The recording was not paused" in response.content.decode()
    call.refresh_from_db()
    assert call.recording_state == RecordingState.RECORDING


def test_other_teams_cannot_reach_the_call_and_colleagues_may_not_pause_it(
    client: Client, on_a_call
):
    oslo, _kari, call = on_a_call

    client.force_login(create_agent("bjorn", team=create_team("Bergen")))
    assert client.post(url(call, "pause"), headers=HTMX).status_code == 404
    ola = create_agent("ola", team=oslo)
    client.force_login(ola)
    page = client.get(reverse("desk:conversation", args=[call.conversation_id])).content.decode()
    assert "Recording started" in page and "Pause recording" not in page  # not theirs to use
    assert client.post(url(call, "pause"), headers=HTMX).status_code == 403
    assert client.post(f"/desk/calls/{call.pk}/recording/rewind", headers=HTMX).status_code == 404
    assert client.get(url(call, "pause")).status_code == 405

    call.refresh_from_db()
    assert call.recording_state == RecordingState.RECORDING


def test_a_supervisor_of_the_team_may_pause_a_call_they_are_not_on(client: Client, on_a_call):
    oslo, _kari, call = on_a_call
    client.force_login(create_agent("siri", supervises=oslo))
    page = client.get(reverse("desk:conversation", args=[call.conversation_id])).content.decode()
    assert 'aria-pressed="false"' in button(page, "Pause recording")

    assert client.post(url(call, "pause"), headers=HTMX).status_code == 200

    page = client.get(reverse("desk:conversation", args=[call.conversation_id])).content.decode()
    assert "Recording paused by Siri" in page
