"""A caller in line is bridged to the agent who accepts: the caller leaves the hold loop for the
call's conference room, the agent's phone rings into the same room, the call connects when both
are in, hold and mute reach the provider, and the caller hanging up puts the agent in wrap-up
with the conversation still open for their notes. An agent's phone that does not answer sends
the call back in line, keeping its place, for the next agent.

Whole calls run through the fake provider (tests/connectors/fake_twiml.py): signed webhooks
through the test client, and its REST side on loopback, which the inbox's api_base points at."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from teamline.accounts.actions import do_set_call_endpoint, do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.calls.actions import (
    do_accept_call,
    do_end_call,
    do_set_call_held,
    do_set_call_muted,
)
from teamline.calls.control import control_for
from teamline.calls.models import Call, CallState
from teamline.calls.phone import do_invite_expert_to_call
from teamline.calls.queries import ringing_calls_for
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import (
    Conversation,
    ConversationParticipant,
    Inbox,
    Status,
    TimelineEvent,
    TimelineKind,
)
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer
from teamline.customers.actions import do_add_identity
from teamline.routing.models import WorkItem, WorkState
from teamline.routing.transfers import do_leave_conversation
from teamline.selfservice.models import VoiceCall
from tests.calls.phone_world import AUTH_TOKEN, BRAND_NUMBER
from tests.connectors.fake_twiml import FakeTwimlProvider, HttpTransport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_public_url")]

NORA = "+4791234567"
PER = "+4791234570"
KARI_PHONE = "+4790000009"
OLA_PHONE = "+4790000008"


def agent(username: str, team, number: str, *, presence: str = "available"):
    user = create_agent(username, team=team, presence=presence, capacity={"voice": 1})
    AgentProfile.objects.filter(user=user).update(languages=["en", "nb"], wrap_up_seconds=60)
    do_set_call_endpoint(user, phone_number=number, call_via="phone", actor=user)
    return user


@pytest.fixture
def kari(oslo):
    return agent("kari", oslo, KARI_PHONE)


def english(number: str, team) -> None:
    customer = create_customer(team=team, preferred_language="en")
    do_add_identity(customer, "phone", number, verified=True)


def call_events(conversation_id: int) -> list[str]:
    return [
        row.data["event"]
        for row in TimelineEvent.objects.filter(
            conversation_id=conversation_id, kind=TimelineKind.CALL
        ).order_by("pk")
    ]


def ringing_for(kari, oslo, phone, number: str = NORA):
    english(number, oslo)
    caller = phone.call(number, inputs=["0"])
    live = Call.objects.get(provider_call_sid=caller.sid)
    assert list(ringing_calls_for(kari)) == [live]
    return caller, live


def agent_legs(phone) -> list[str]:
    """The legs Teamline placed at the provider, in order."""
    return [sid for sid, leg in phone.legs.items() if leg.direction == "outbound-api"]


# --- The whole call ---


@pytest.mark.integration
def test_a_caller_in_line_is_bridged_to_the_agent_who_accepts_and_wraps_up_after(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    # While it rings the caller waits on, told who will answer.
    assert caller.on_hold
    assert caller.heard[-1] == "Kari from your team will answer your call in a moment."

    accepted = do_accept_call(live, actor=kari)

    assert accepted.state == CallState.CONNECTING
    prefix = phone.prefix
    (redirect,) = rest.made("POST", f"/Calls/{caller.sid}.json")
    assert redirect.form == {"Url": prefix + "ivr/bridge", "Method": "POST"}
    (placed,) = rest.made("POST", "/Calls.json")
    assert placed.form["To"] == KARI_PHONE
    assert placed.form["From"] == BRAND_NUMBER
    assert placed.form["Url"] == prefix + f"agent/{live.pk}"
    assert placed.form["StatusCallback"] == prefix + f"agent/{live.pk}/status"

    phone.settle()  # the provider redirects the caller and rings Kari, who answers

    (leg,) = agent_legs(phone)
    room = live.conference_name
    assert room == f"teamline-call-{live.pk}"
    assert phone.in_room(room) == {caller.sid, leg}
    assert not caller.on_hold  # out of the hold loop
    live.refresh_from_db()
    assert (live.state, live.agent_call_sid, live.agent_endpoint) == (
        CallState.ACTIVE,
        leg,
        KARI_PHONE,
    )
    assert live.answered_at is not None  # the desk's timer starts
    assert live.conference_sid.startswith("CF")

    live = do_set_call_held(live, held=True, actor=kari)
    assert phone.participant(room, caller.sid).hold
    live = do_set_call_held(live, held=False, actor=kari)
    live = do_set_call_muted(live, muted=True, actor=kari)
    assert not phone.participant(room, caller.sid).hold
    assert phone.participant(room, leg).muted
    assert phone.participant(room, caller.sid).updates == [
        {"Hold": "true"},
        {"Hold": "false"},
    ]

    before = timezone.now()
    caller.hang_up()

    live.refresh_from_db()
    assert live.state == CallState.ENDED
    assert live.end_reason == "the caller hung up (completed)"
    assert phone.legs[leg].ended  # the room ended with the caller, and Kari's leg with it
    assert phone.in_room(room) == set()
    profile = AgentProfile.objects.get(user=kari)
    assert profile.wrap_up_until is not None
    assert profile.wrap_up_until >= before + timedelta(seconds=59)
    conversation = Conversation.objects.get(pk=live.conversation_id)
    # Open for Kari's notes, no longer holding her one voice slot.
    assert (conversation.status, conversation.assignee_id) == (Status.OPEN, kari.pk)
    assert conversation.channel_kind == "chat"
    assert WorkItem.objects.get(pk=live.work_item_id).state == WorkState.DONE
    assert call_events(conversation.pk) == [
        "waiting",
        "accepted",
        "connected",
        "held",
        "resumed",
        "muted",
        "ended",
    ]


@pytest.mark.integration
def test_an_agent_phone_that_does_not_answer_sends_the_call_back_in_line_keeping_its_place(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    english(PER, oslo)
    later = phone.call(PER, inputs=["0"])  # Kari is taken: Per waits behind Nora
    assert "You are number 1 in line." in later.heard
    item = WorkItem.objects.get(pk=live.work_item_id)
    phone.answers[KARI_PHONE] = "no-answer"

    do_accept_call(live, actor=kari)
    phone.settle()

    live.refresh_from_db()
    assert (live.state, live.agent_id, live.agent_call_sid) == (CallState.WAITING, None, "")
    assert call_events(live.conversation_id) == ["waiting", "accepted", "unanswered"]
    conversation = Conversation.objects.get(pk=live.conversation_id)
    assert conversation.assignee_id is None
    back = WorkItem.objects.get(pk=item.pk)
    assert back.state == WorkState.QUEUED
    assert (back.enqueued_at, back.rank_at) == (item.enqueued_at, item.rank_at)
    # The caller is in the room, hearing the waiting music, no agent with them.
    assert phone.in_room(live.conference_name) == {caller.sid}

    # The next agent who is free gets Nora's call first: she kept her place.
    ola = agent("ola", oslo, OLA_PHONE, presence="offline")
    do_set_presence(ola, "available", actor=ola)

    assert list(ringing_calls_for(ola)) == [live]
    do_accept_call(Call.objects.get(pk=live.pk), actor=ola)
    phone.settle()
    live.refresh_from_db()
    assert (live.state, live.agent_id, live.agent_endpoint) == (
        CallState.ACTIVE,
        ola.pk,
        OLA_PHONE,
    )
    assert phone.in_room(live.conference_name) == {caller.sid, live.agent_call_sid}


def test_the_agent_putting_the_phone_down_ends_the_call_and_the_callers_leg(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()

    phone.hang_up_leg(live.agent_call_sid)

    live.refresh_from_db()
    assert (live.state, live.end_reason) == (CallState.ENDED, "the agent hung up")
    assert caller.ended
    assert rest.made("POST", f"/Calls/{caller.sid}.json")[-1].form == {"Status": "completed"}
    assert AgentProfile.objects.get(user=kari).wrap_up_until is not None


def test_the_agent_ending_the_call_hangs_up_both_legs_and_wraps_up(phone, rest, kari, oslo):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    leg = live.agent_call_sid

    do_end_call(live, reason="ended by the agent", actor=kari, hang_up=True)
    phone.settle()

    assert rest.made("POST", f"/Calls/{caller.sid}.json")[-1].form == {"Status": "completed"}
    assert caller.ended and phone.legs[leg].ended
    assert AgentProfile.objects.get(user=kari).wrap_up_until is not None
    assert Conversation.objects.get(pk=live.conversation_id).assignee_id == kari.pk


def test_a_caller_who_hangs_up_while_the_agents_phone_rings_stops_the_ringing(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    phone.answers[KARI_PHONE] = "answer"
    do_accept_call(live, actor=kari)
    # The caller gives up before the provider acted on anything.
    caller.hang_up()

    live.refresh_from_db()
    assert live.state == CallState.ENDED
    assert live.end_reason == (
        "the caller hung up before the agent's phone was connected (completed)"
    )
    (leg,) = agent_legs(phone)
    assert rest.made("POST", f"/Calls/{leg}.json")[-1].form == {"Status": "completed"}


# --- What accepting needs ---


def test_an_agent_without_a_phone_number_cannot_accept_a_phone_call(phone, rest, oslo):
    kari = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en"])
    _caller, live = ringing_for(kari, oslo, phone)

    with pytest.raises(InvalidInput, match="Add your phone number in your profile to take calls"):
        do_accept_call(live, actor=kari)

    live.refresh_from_db()
    assert (live.state, live.agent_id) == (CallState.WAITING, None)
    assert rest.requests == []
    assert call_events(live.conversation_id) == ["waiting"]


def test_a_softphone_agent_is_rung_on_the_providers_client(phone, rest, oslo):
    kari = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en"])
    do_set_call_endpoint(kari, phone_number="", call_via="client", actor=kari)
    _caller, live = ringing_for(kari, oslo, phone)

    do_accept_call(live, actor=kari)

    (placed,) = rest.made("POST", "/Calls.json")
    assert placed.form["To"] == "client:kari"


@pytest.mark.integration
def test_a_provider_that_is_down_at_accept_leaves_the_call_ringing_with_a_clear_error(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    rest.down = True

    with pytest.raises(InvalidInput, match="phone provider is not answering"):
        do_accept_call(live, actor=kari)

    live.refresh_from_db()
    assert (live.state, live.agent_id, live.agent_call_sid) == (CallState.WAITING, None, "")
    assert call_events(live.conversation_id) == ["waiting"]
    assert list(ringing_calls_for(kari)) == [live]
    phone.settle()
    assert caller.on_hold  # still in the hold loop

    rest.down = False
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    assert live.state == CallState.ACTIVE


def test_a_provider_that_refuses_hold_leaves_the_call_active(phone, rest, kari, oslo):
    _caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    rest.down = True

    with pytest.raises(InvalidInput, match="could not hold the call"):
        do_set_call_held(live, held=True, actor=kari)

    live.refresh_from_db()
    assert live.state == CallState.ACTIVE


# --- Provider retries and forgeries ---


@pytest.mark.integration
def test_provider_retries_of_every_bridge_step_change_nothing(phone, rest, kari, oslo, client):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    caller.hang_up()
    phone.settle()
    live.refresh_from_db()
    bridge_posts = [
        (url, params)
        for leg in phone.legs.values()
        for url, params in leg.requests
        if "/ivr/bridge" in url or "/agent/" in url
    ]
    assert len(bridge_posts) == 2  # the caller's ivr/bridge, Kari's agent/<id>
    timeline = TimelineEvent.objects.count()
    stored = WebhookEvent.objects.count()
    state = Call.objects.values().get(pk=live.pk)

    for url, params in bridge_posts:
        assert phone.post(url, params).status_code == 200
    for url, params in phone.posted_callbacks():
        assert phone.post(url, params).status_code == 200

    assert TimelineEvent.objects.count() == timeline
    assert WebhookEvent.objects.count() == stored
    assert Call.objects.values().get(pk=live.pk) == state
    assert VoiceCall.objects.get(call_sid=caller.sid).ended_at is not None


@pytest.mark.parametrize("signature", ["", "forged-signature"])
@pytest.mark.parametrize(
    "step", ["ivr/bridge", "agent/{id}", "agent/{id}/status", "ivr/conference"]
)
def test_unsigned_or_forged_bridge_steps_are_refused_and_nothing_is_stored(
    phone, rest, kari, oslo, step, signature
):
    _caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    live.refresh_from_db()
    stored = WebhookEvent.objects.count()
    params = {
        "AccountSid": phone.account_sid,
        "CallSid": live.agent_call_sid,
        "CallStatus": "no-answer",
        "ConferenceSid": "CF" + "1" * 32,
        "FriendlyName": live.conference_name,
        "StatusCallbackEvent": "participant-join",
    }

    response = phone.post(phone.prefix + step.format(id=live.pk), params, signature=signature or "")

    assert response.status_code == 403
    assert WebhookEvent.objects.count() == stored
    live.refresh_from_db()
    assert live.state == CallState.CONNECTING and live.customer_joined_at is None


def test_a_stale_or_foreign_agent_leg_is_hung_up_and_changes_nothing(phone, rest, kari, oslo):
    _caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    params = {"AccountSid": phone.account_sid, "CallSid": "CA" + "9" * 32, "To": KARI_PHONE}

    answer = phone.post(phone.prefix + f"agent/{live.pk}", params)
    status = phone.post(
        phone.prefix + f"agent/{live.pk}/status", {**params, "CallStatus": "no-answer"}
    )

    assert b"<Hangup" in answer.content
    assert status.status_code == 200
    live.refresh_from_db()
    assert live.state == CallState.CONNECTING


# --- Around the bridge ---


def test_a_released_call_keeps_the_caller_on_hold_in_the_room_and_drops_the_agents_leg(
    phone, rest, kari, oslo
):
    # What a transfer does to the media: the agent's leg goes, the caller stays, on hold.
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    leg = live.agent_call_sid

    control_for(live).released(live)
    phone.settle()

    assert phone.legs[leg].ended
    assert phone.in_room(live.conference_name) == {caller.sid}
    assert phone.participant(live.conference_name, caller.sid).hold
    live.refresh_from_db()
    # The dropped leg's final status is not the agent hanging up on the caller.
    assert live.state == CallState.ACTIVE and live.agent_call_sid == ""
    assert not caller.ended


def test_a_caller_who_hangs_up_in_line_ends_the_call_as_an_abandonment(phone, rest, oslo):
    english(NORA, oslo)
    caller = phone.call(NORA, inputs=["0"])  # nobody online: in line

    caller.hang_up()

    live = Call.objects.get(provider_call_sid=caller.sid)
    assert (live.state, live.end_reason) == (
        CallState.ENDED,
        "the caller hung up while waiting (completed)",
    )
    assert WorkItem.objects.get(pk=live.work_item_id).state == WorkState.ABANDONED
    assert rest.requests == []


def test_asking_for_a_callback_from_the_line_ends_the_call_the_callback_comes_later(
    phone, rest, oslo
):
    english(NORA, oslo)
    caller = phone.call(NORA, inputs=["0"])

    caller.keep_waiting("9")

    live = Call.objects.get(provider_call_sid=caller.sid)
    assert (live.state, live.end_reason) == (
        CallState.ENDED,
        "the caller asked to be called back",
    )
    assert WorkItem.objects.get(pk=live.work_item_id).state == WorkState.QUEUED


# --- Over HTTP ---


def wait_for(check, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the provider did not get there in time"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_over_http_the_provider_bridges_a_call_on_a_live_server(live_server, settings, oslo):
    # The mode a browser test uses: signed webhooks over real HTTP, the provider acting on its
    # own thread as soon as Teamline asks.
    settings.PUBLIC_URL = live_server.url
    kari = agent("kari", oslo, KARI_PHONE)
    english(NORA, oslo)
    inbox = Inbox(name="Nordlys phone", kind="voice", default_team=oslo)
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    provider = FakeTwimlProvider(
        None, inbox, AUTH_TOKEN, host=live_server.url, transport=HttpTransport()
    )
    rest = provider.start_rest()
    inbox.config = {"language": "en", "from_number": BRAND_NUMBER, "api_base": rest.url}
    inbox.save()
    try:
        caller = provider.call(NORA, inputs=["0"])
        live = Call.objects.get(provider_call_sid=caller.sid)

        do_accept_call(live, actor=kari)

        wait_for(lambda: Call.objects.get(pk=live.pk).state == CallState.ACTIVE)
        caller.hang_up()
        wait_for(lambda: Call.objects.get(pk=live.pk).state == CallState.ENDED)
        wait_for(lambda: provider.actions.empty())
        assert provider.errors == []
        assert provider.in_room(live.conference_name) == set()
    finally:
        provider.stop_rest()


def test_when_the_room_ends_before_the_callers_status_arrives_it_is_still_the_caller_who_hung_up(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()

    # The caller leaves the room, the room ends, Kari's leg drops and its status comes in
    # before the caller's own status callback.
    caller.hang_up(room_first=True)

    live.refresh_from_db()
    assert (live.state, live.end_reason) == (CallState.ENDED, "the caller hung up")
    assert rest.made("POST", f"/Calls/{caller.sid}.json")[-1].form != {"Status": "completed"}
    assert AgentProfile.objects.get(user=kari).wrap_up_until is not None


def test_ending_a_call_whose_caller_is_already_gone_still_ends_it(phone, rest, kari, oslo):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    phone.legs[caller.sid].ended = True  # gone at the provider; its status not here yet

    ended = do_end_call(live, reason="ended by the agent", actor=kari, hang_up=True)

    assert ended is not None and ended.state == CallState.ENDED


# --- Experts ---


def expert(username: str, team, number: str = ""):
    user = create_agent(username, team=team, presence="available")
    AgentProfile.objects.filter(user=user).update(expert_available=True)
    if number:
        do_set_call_endpoint(user, phone_number=number, call_via="phone", actor=user)
    return user


def test_an_expert_invited_into_a_phone_call_rings_into_the_room_as_a_third_leg(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    siri = expert("siri", oslo, "+4790000007")

    participant = do_invite_expert_to_call(live, actor=kari, expert=siri)

    assert participant.user == siri and participant.left_at is None
    placed = rest.made("POST", "/Calls.json")[-1]
    assert placed.form["To"] == "+4790000007"
    assert placed.form["Url"] == phone.prefix + f"agent/{live.pk}/expert/{siri.pk}"
    phone.settle()
    siri_leg = agent_legs(phone)[-1]
    room = live.conference_name
    assert phone.in_room(room) == {caller.sid, live.agent_call_sid, siri_leg}
    live.refresh_from_db()
    assert live.state == CallState.ACTIVE and live.agent_call_sid != siri_leg

    caller.hang_up()  # the room ends with the caller: every leg in it

    assert phone.legs[siri_leg].ended and phone.legs[live.agent_call_sid].ended


def test_an_expert_without_a_phone_number_is_not_invited_into_a_call(phone, rest, kari, oslo):
    _caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    placed = len(rest.made("POST", "/Calls.json"))
    siri = expert("siri", oslo)

    with pytest.raises(InvalidInput, match="Siri has no phone number in their profile"):
        do_invite_expert_to_call(live, actor=kari, expert=siri)

    assert not ConversationParticipant.objects.filter(user=siri).exists()
    assert len(rest.made("POST", "/Calls.json")) == placed


def test_only_the_agent_on_a_connected_call_invites_an_expert(phone, rest, kari, oslo):
    _caller, live = ringing_for(kari, oslo, phone)
    siri = expert("siri", oslo, "+4790000007")
    with pytest.raises(InvalidInput, match="once the call is connected"):
        do_invite_expert_to_call(live, actor=kari, expert=siri)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    with pytest.raises(InvalidInput, match="Only the agent on the call"):
        do_invite_expert_to_call(live, actor=siri, expert=siri)


def test_an_expert_who_left_the_conversation_is_not_let_into_the_room(phone, rest, kari, oslo):
    _caller, live = ringing_for(kari, oslo, phone)
    do_accept_call(live, actor=kari)
    phone.settle()
    live.refresh_from_db()
    siri = expert("siri", oslo, "+4790000007")
    do_invite_expert_to_call(live, actor=kari, expert=siri)
    do_leave_conversation(live.conversation, actor=siri)

    phone.settle()  # her phone answers only now

    siri_leg = agent_legs(phone)[-1]
    assert phone.legs[siri_leg].ended
    assert siri_leg not in phone.in_room(live.conference_name)


def test_a_caller_who_hangs_up_while_it_rings_for_the_agent_is_an_abandonment(
    phone, rest, kari, oslo
):
    caller, live = ringing_for(kari, oslo, phone)

    caller.hang_up()

    live.refresh_from_db()
    assert (live.state, live.end_reason) == (
        CallState.ENDED,
        "the caller hung up while waiting (completed)",
    )
    assert WorkItem.objects.get(pk=live.work_item_id).state == WorkState.ABANDONED
    conversation = Conversation.objects.get(pk=live.conversation_id)
    assert conversation.status == Status.RESOLVED  # Kari's voice slot is free again
    assert VoiceCall.objects.get(call_sid=caller.sid).abandoned_after_seconds is not None


# --- Budgets ---


def test_query_budgets_of_the_bridge_steps(phone, rest, kari, oslo, django_assert_max_num_queries):
    caller, live = ringing_for(kari, oslo, phone)
    ringing_url, ringing_params = caller.pending

    # Every ringing caller asks this every 10 s.
    with django_assert_max_num_queries(16):
        phone.post(ringing_url, ringing_params)
    # The agent presses Accept (a request the agent waits on).
    with django_assert_max_num_queries(14):
        do_accept_call(live, actor=kari)
    phone.settle()
    (leg,) = agent_legs(phone)
    agent_step = phone.legs[leg].requests[0]
    join = [
        (url, params)
        for url, params in phone.posted
        if url.endswith("/ivr/conference") and params["StatusCallbackEvent"] == "participant-join"
    ][-1]
    # The provider's retries of the agent's step and of a join event.
    with django_assert_max_num_queries(10):
        phone.post(*agent_step)
    with django_assert_max_num_queries(15):
        phone.post(*join)
