"""The call panel on the desk: a call rings for Kari with the caller's name, she accepts it (one
click wins, a second gets a clear answer), mutes, holds, ends, and wraps up; she may reject it or
let it ring out, and the caller keeps their place. Staff of another team cannot touch the call
by id. Every control has an accessible name; the panel is a named region on every page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, Presence
from teamline.calls.actions import do_mark_call_connected, do_open_call, do_ring_timeouts
from teamline.calls.models import Call, CallMedium, CallState
from teamline.calls.queries import ringing_calls_for
from teamline.core.testing import create_customer
from teamline.routing.models import WorkItem
from tests.calls.support import phone_call, recording_phone_control, voice_inbox

from .page import Page
from .support import World, assigned_to

ACTIONS = ["accept", "reject", "hold", "resume", "mute", "unmute", "end", "connected"]
JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def control():
    with recording_phone_control() as recording:
        yield recording


@pytest.fixture
def ringing(world: World) -> Call:
    """Anna Berg calls the Oslo team and presses 0: it rings for Kari (available)."""
    do_set_presence(world.kari, Presence.AVAILABLE, actor=world.kari)
    customer = create_customer(team=world.oslo, name="Anna Berg")
    call = phone_call(voice_inbox(world.oslo), customer, "+4791000001")
    assert list(ringing_calls_for(world.kari)) == [call]
    return call


def panel_of(client) -> Page:
    response = client.get("/desk/calls/panel")
    assert response.status_code == 200
    return Page(response.content)


def post(client, call: Call, action: str, **headers: str):
    return client.post(f"/desk/calls/{call.pk}/{action}", headers=headers or JSON)


def assert_every_control_is_named(page: Page) -> None:
    for role in ("button", "link"):
        for node in page.all(role):
            assert page.name_of(node).strip(), f"a {role} without a name: {node!r}"
    ids = [node.get("id") for node in page.root.iter() if node.get("id")]
    assert len(ids) == len(set(ids)), f"duplicate ids: {ids}"


def test_every_desk_page_has_the_call_region_and_its_assertive_announcer(as_kari):
    page = Page(as_kari.get("/desk/").content)
    region = page.by_id("call-panel")
    assert region is not None and (region.get("role"), region.get("aria-label")) == (
        "region",
        "Call",
    )
    assert region.get("data-panel-url") == "/desk/calls/panel"
    announcer = page.by_id("call-announcer")
    assert announcer is not None and announcer.get("aria-live") == "assertive"
    assert "desk/calls.js" in page.html


def test_a_ringing_call_shows_who_calls_with_accept_and_reject(as_kari, ringing):
    page = panel_of(as_kari)
    article = page.one("article", "Incoming phone call")
    assert article.get("data-announce") == "Incoming phone call from Anna Berg"
    assert page.link("Anna Berg").get("href") == f"/desk/conversations/{ringing.conversation_id}/"
    assert page.button("Accept call").get("aria-keyshortcuts") == "Alt+Shift+A"
    assert page.button("Reject call").get("aria-keyshortcuts") == "Alt+Shift+R"
    assert re.search(r"waiting 0:0\d", page.text)
    assert_every_control_is_named(page)


def test_accept_mute_hold_and_end_then_wrap_up(as_kari, world, ringing, control):
    AgentProfile.objects.filter(user=world.kari).update(wrap_up_seconds=45)
    answer = post(as_kari, ringing, "accept").json()
    assert answer["ok"] and answer["action"] == "accepted"
    assert answer["call"]["state"] == "connecting" and answer["call"]["id"] == ringing.pk
    assert control.asked == [("accepted", ringing.pk)]
    page = Page(answer["panel"])
    assert page.button("End call") and not page.all("button", "Mute")

    do_mark_call_connected(Call.objects.get(pk=ringing.pk))  # the provider bridged the legs
    page = panel_of(as_kari)
    timer = page.one("timer", page.by_id(f"call-timer-{ringing.pk}").text)
    assert timer.get("aria-live") == "off"
    assert page.button("Mute").get("aria-pressed") == "false"
    assert page.button("Hold").get("aria-pressed") == "false"
    assert page.button("Announce call time")
    assert page.link("Transfer").get("href").endswith("#transfer-form")
    assert_every_control_is_named(page)

    page = Page(post(as_kari, ringing, "mute").json()["panel"])
    assert page.button("Mute").get("aria-pressed") == "true"
    answer = post(as_kari, ringing, "hold").json()
    assert answer["action"] == "held" and answer["announce"] == "The customer is on hold."
    assert Page(answer["panel"]).button("Hold").get("aria-pressed") == "true"
    page = Page(post(as_kari, ringing, "resume").json()["panel"])
    assert page.button("Hold").get("aria-pressed") == "false"

    answer = post(as_kari, ringing, "end").json()
    assert answer["action"] == "ended" and answer["call"]["state"] == "ended"
    assert control.asked[-1] == ("hang_up", ringing.pk)
    page = Page(answer["panel"])
    assert re.search(r"Wrap-up: 0:4\d left", page.text)
    assert (
        page.root.find_all(**{"class": "call-wrapup"})[0]
        .get("data-announce")
        .startswith("Wrap-up: 0:4")
    )


def test_a_double_accept_accepts_once_and_says_why_the_second_did_nothing(as_kari, ringing):
    first = post(as_kari, ringing, "accept")
    second = post(as_kari, ringing, "accept")
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["error"] == "This call is connecting now."
    assert "This call is connecting now." in Page(second.json()["panel"]).text
    assert Call.objects.get(pk=ringing.pk).state == CallState.CONNECTING


def test_a_colleague_cannot_accept_a_call_ringing_for_someone_else(client, world, ringing):
    client.force_login(world.ola)
    response = post(client, ringing, "accept")
    assert response.status_code == 409
    assert response.json()["error"] == "This call is not ringing for you."


def test_another_teams_agent_gets_not_found_for_every_call_url(client, world, ringing):
    client.force_login(world.bjorn)
    for action in ACTIONS:
        assert post(client, ringing, action).status_code == 404, action
    assert "Anna Berg" not in panel_of(client).text
    assert Call.objects.get(pk=ringing.pk).state == CallState.WAITING


def test_rejecting_from_the_desk_keeps_the_callers_place_in_line(as_kari, ringing):
    place = WorkItem.objects.get(conversation=ringing.conversation_id).rank_at
    answer = post(as_kari, ringing, "reject").json()
    assert answer["ok"] and answer["call"]["state"] == "waiting"
    assert "Anna Berg" not in Page(answer["panel"]).text
    item = WorkItem.objects.get(conversation=ringing.conversation_id)
    assert (item.state, item.rank_at) == ("queued", place)


def test_a_call_that_rang_out_tells_the_agent_why_they_are_away(as_kari, world, ringing):
    do_ring_timeouts(now=timezone.now() + timedelta(seconds=60))
    page = panel_of(as_kari)
    assert "You did not answer the phone call from Anna Berg" in page.text
    assert "your status is now Away" in page.text
    do_set_presence(world.kari, Presence.AVAILABLE, actor=world.kari)
    assert "You did not answer" not in panel_of(as_kari).text


def test_only_browser_calls_are_connected_by_the_browser(as_kari, world, ringing):
    post(as_kari, ringing, "accept")
    response = post(as_kari, ringing, "connected")
    assert response.status_code == 409
    assert "connected by the voice provider" in response.json()["error"]

    customer = create_customer(team=world.oslo, name="Video Visitor")
    video = do_open_call(assigned_to(world.ola, customer), medium=CallMedium.VIDEO)
    as_kari.force_login(world.ola)
    post(as_kari, video, "accept")
    answer = post(as_kari, video, "connected").json()
    assert answer["ok"] and answer["call"]["state"] == "active"
    assert Page(answer["panel"]).by_id(f"call-media-{video.pk}") is not None


def test_without_javascript_the_forms_still_work(as_kari, ringing):
    response = as_kari.post(f"/desk/calls/{ringing.pk}/accept")
    assert response.status_code == 302
    assert response["Location"] == f"/desk/conversations/{ringing.conversation_id}/"


def test_transferring_the_conversation_of_a_live_call_takes_the_call_along(as_kari, world, ringing):
    do_set_presence(world.ola, Presence.AVAILABLE, actor=world.ola)
    post(as_kari, ringing, "accept")
    response = as_kari.post(
        f"/desk/conversations/{ringing.conversation_id}/transfer/",
        {"target": f"agent:{world.ola.pk}", "note": "Roaming in Spain"},
    )
    assert response.status_code == 302
    call = Call.objects.get(pk=ringing.pk)
    assert call.state == CallState.WAITING and call.agent_id is None
    assert list(ringing_calls_for(world.ola)) == [call]


def test_an_expert_invited_into_a_call_sees_it_but_cannot_control_it(client, world, ringing):
    from teamline.accounts.actions import do_set_expert_available
    from teamline.routing.transfers import do_invite_expert

    client.force_login(world.kari)
    post(client, ringing, "accept")
    do_mark_call_connected(Call.objects.get(pk=ringing.pk))
    do_set_presence(world.bjorn, Presence.BUSY, actor=world.bjorn)
    do_set_expert_available(world.bjorn, True, actor=world.bjorn)
    do_invite_expert(ringing.conversation, actor=world.kari, expert=world.bjorn)

    client.force_login(world.bjorn)
    page = panel_of(client)
    page.one("article", "Phone call you help with")
    assert "Anna Berg: talking with Kari Nordmann." in page.text
    assert not page.all("button")
    response = post(client, ringing, "mute")
    assert response.status_code == 409
    assert response.json()["error"] == "Only the agent on the call can mute it."


def test_reading_the_panel_costs_the_same_however_many_calls(
    as_kari, world, ringing, django_assert_max_num_queries
):
    """Every desk of a team reads its panel after call events: a fixed number of queries."""
    for number in range(3):
        customer = create_customer(team=world.oslo, name=f"Caller {number}")
        do_open_call(assigned_to(world.kari, customer), medium=CallMedium.AUDIO)
    # Session, user, the session's check (not ended, not idle), the agent's calls, their
    # profile (wrap-up).
    with django_assert_max_num_queries(5):
        page = panel_of(as_kari)
    assert page.button("Accept call")
