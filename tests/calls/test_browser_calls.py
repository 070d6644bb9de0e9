"""A customer calls their team from the web chat: the call is a voice work item routed like a
phone call, one at a time, refused when the team is closed or the inbox takes no calls; giving
up while waiting is an abandonment; an agent in a chat can invite the customer to video. The
signalling the two browsers exchange is checked for shape and size before it is relayed, and
the STUN/TURN servers each side gets carry coturn-style time-limited credentials."""

import base64
import hashlib
import hmac
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from teamline.calls.actions import do_accept_call, do_end_call
from teamline.calls.browser import (
    MAX_SDP_CHARS,
    SignalBudget,
    access_customer_call,
    agent_signal,
    check_signal_payload,
    customer_signal,
    do_end_browser_call,
    do_invite_to_video,
    do_start_browser_call,
)
from teamline.calls.ice import IceConfigError, ice_servers_for, parse_ice_servers
from teamline.calls.models import CallState
from teamline.conversations.models import Status, TimelineEvent, TimelineKind
from teamline.conversations.presenters import present_message_to_customer
from teamline.core.errors import Conflict, InvalidInput, NotFound
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    customer_says,
)
from teamline.routing.models import WorkItem, WorkState
from teamline.teams.actions import do_set_service_mode
from teamline.teams.models import ServiceMode

pytestmark = pytest.mark.django_db


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def inbox(oslo):
    return create_inbox(oslo, name="Nordlys chat")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


def test_a_video_call_from_the_widget_is_a_voice_work_item_that_rings_for_the_agent(
    inbox, kari, oslo, django_capture_on_commit_callbacks
):
    customer = create_customer(team=oslo, name="Astrid")
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    assert call.medium == "video" and call.state == CallState.WAITING
    conversation = call.conversation
    conversation.refresh_from_db()
    assert conversation.channel_kind == "voice"
    assert conversation.assignee == kari  # routed like any contact: it rings for Kari
    assert call.work_item is not None and call.work_item.channel_kind == "voice"
    assert call.original_channel_kind == ""
    started = conversation.messages.get()
    assert started.text == "Video call from the web chat" and started.channel == "webchat"
    updates = [event for event, _ in sent if event.type == "call.updated"]
    assert updates and updates[0].customer == {
        "id": call.pk,
        "medium": "video",
        "state": "waiting",
        "answered_at": None,
        "ended_at": None,
    }


def test_a_customer_is_in_one_call_at_a_time(inbox, kari, oslo):
    customer = create_customer(team=oslo)
    do_start_browser_call(inbox=inbox, customer=customer, medium="audio")
    with pytest.raises(Conflict, match="already in a call"):
        do_start_browser_call(inbox=inbox, customer=customer, medium="video")


def test_only_audio_or_video_and_only_where_the_inbox_takes_calls(inbox, kari, oslo):
    customer = create_customer(team=oslo)
    with pytest.raises(InvalidInput, match="audio or video"):
        do_start_browser_call(inbox=inbox, customer=customer, medium="phone")
    inbox.config = {"calls": False}
    inbox.save(update_fields=["config"])
    with pytest.raises(InvalidInput, match="does not take calls"):
        do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    assert not customer.calls.exists()


def test_a_closed_team_refuses_the_call_and_says_when_it_answers(inbox, kari, oslo):
    opens = timezone.now().replace(microsecond=0) + timedelta(days=2)
    do_set_service_mode(oslo, ServiceMode.CLOSED, until=opens)
    customer = create_customer(team=oslo)
    with pytest.raises(InvalidInput) as refused:
        do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    local = opens.astimezone(ZoneInfo("Europe/Oslo"))
    assert "closed now and answers calls again at" in refused.value.message
    assert local.strftime("%H:%M") in refused.value.message
    assert "You can still write to us here." in refused.value.message
    assert not customer.calls.exists()


def test_a_chat_waiting_in_line_keeps_its_place_as_a_call_and_cancelling_gives_it_back(inbox, oslo):
    customer = create_customer(team=oslo)
    message, _ = customer_says(customer, "Hello?", inbox=inbox)  # nobody online: it waits
    conversation = message.conversation
    queued = WorkItem.objects.get(conversation=conversation, state=WorkState.QUEUED)
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="audio")
    assert call.conversation_id == conversation.pk
    assert call.work_item_id == queued.pk and call.original_channel_kind == "chat"
    queued.refresh_from_db()
    assert queued.channel_kind == "voice"

    ended = do_end_browser_call(call, now=call.created_at + timedelta(seconds=42))
    assert ended is not None and ended.end_reason == "the customer cancelled while waiting"
    queued.refresh_from_db()
    assert queued.state == WorkState.ABANDONED
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN and conversation.channel_kind == "chat"
    assert WorkItem.objects.filter(
        conversation=conversation, state=WorkState.QUEUED, channel_kind="chat"
    ).exists()
    abandoned = TimelineEvent.objects.get(
        conversation=conversation, kind=TimelineKind.ROUTED, data__call="abandoned"
    )
    assert abandoned.data["waited_seconds"] == 42
    assert do_end_browser_call(call) is None  # a second press changes nothing


def test_cancelling_a_call_that_started_the_conversation_resolves_it(inbox, oslo):
    customer = create_customer(team=oslo)
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    do_end_browser_call(call)
    call.conversation.refresh_from_db()
    assert call.conversation.status == Status.RESOLVED
    assert WorkItem.objects.get(pk=call.work_item_id).state == WorkState.ABANDONED


def test_hanging_up_a_call_in_progress_ends_it_without_an_abandonment(inbox, kari, oslo):
    customer = create_customer(team=oslo)
    call = do_accept_call(
        do_start_browser_call(inbox=inbox, customer=customer, medium="video"), actor=kari
    )
    ended = do_end_browser_call(call)
    assert ended is not None and ended.end_reason == "the customer hung up"
    assert not TimelineEvent.objects.filter(
        conversation=call.conversation, data__call="abandoned"
    ).exists()


def test_the_agent_invites_a_chatting_customer_to_video_and_the_call_rings_for_them(
    inbox, kari, oslo
):
    customer = create_customer(team=oslo)
    message, _ = customer_says(customer, "Can you look at my router?", inbox=inbox)
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.assignee == kari
    colleague = create_agent(team=oslo)
    with pytest.raises(InvalidInput, match="assigned to"):
        do_invite_to_video(conversation, actor=colleague)

    invite = do_invite_to_video(conversation, actor=kari)
    assert invite.text == "Kari Nordmann invites you to a video call."
    assert invite.content["call_invite"] == {"medium": "video"}
    # The widget shows it with a "Start video call" button.
    assert present_message_to_customer(invite)["call_invite"] == {"medium": "video"}

    do_set_service_mode(oslo, ServiceMode.CLOSED)  # Kari is with the customer all the same
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    assert call.conversation_id == conversation.pk
    assert do_accept_call(call, actor=kari).agent == kari
    with pytest.raises(Conflict, match="already in a call"):
        do_invite_to_video(conversation, actor=kari)


def test_a_customer_reaches_only_their_own_calls(inbox, kari, oslo):
    customer, other = create_customer(team=oslo), create_customer(team=oslo)
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    assert access_customer_call(customer.pk, str(call.pk)) == call
    with pytest.raises(NotFound):
        access_customer_call(other.pk, call.pk)
    with pytest.raises(NotFound):
        access_customer_call(customer.pk, "12; drop")


# --- Signalling -----------------------------------------------------------------------------

OFFER_SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def test_signal_payloads_have_one_shape_and_bounded_sizes():
    assert check_signal_payload("offer", {"type": "offer", "sdp": OFFER_SDP}) == (
        "offer",
        {"type": "offer", "sdp": OFFER_SDP},
    )
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}
    kind, payload = check_signal_payload("ice", {**candidate, "sdpMid": "0", "sdpMLineIndex": 0})
    assert payload == {**candidate, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None}
    assert check_signal_payload("ice", None) == ("ice", None)
    assert check_signal_payload("bye", None) == ("bye", None)
    refused = [
        ("hello", None, "kind must be one of"),
        ("offer", {"type": "offer", "sdp": "x" * (MAX_SDP_CHARS + 1)}, "longer than 16384"),
        ("offer", {"type": "answer", "sdp": OFFER_SDP}, "type must be offer"),
        ("answer", {"sdp": OFFER_SDP, "script": "alert(1)"}, "payload is"),
        ("answer", "v=0", "payload is"),
        ("offer", {"type": "offer", "sdp": "v=0\x00"}, "NUL"),
        ("ice", {"candidate": "c" * 1025}, "longer than 1024"),
        ("ice", {"candidate": "", "sdpMLineIndex": True}, "sdpMLineIndex"),
        ("ice", {"candidate": "", "nested": {"a": [1]}}, "Unknown ice fields"),
        ("bye", {"reason": "x"}, "no payload"),
    ]
    for kind, bad, problem in refused:
        with pytest.raises(InvalidInput, match=problem):
            check_signal_payload(kind, bad)


def test_signals_pass_only_between_the_calls_customer_and_its_accepted_agent(inbox, kari, oslo):
    customer = create_customer(team=oslo)
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    offer = {"call_id": call.pk, "kind": "offer", "payload": {"type": "offer", "sdp": OFFER_SDP}}
    with pytest.raises(InvalidInput, match="not connected"):
        agent_signal(kari, offer)  # still ringing: nobody to talk to yet
    call = do_accept_call(call, actor=kari)

    signal, customer_id = agent_signal(kari, offer)
    assert customer_id == customer.pk
    assert signal.present("agent") == {
        "call_id": call.pk,
        "kind": "offer",
        "payload": {"type": "offer", "sdp": OFFER_SDP},
        "from": "agent",
    }
    answer = {"call_id": call.pk, "kind": "answer", "payload": {"type": "answer", "sdp": "v=0"}}
    assert customer_signal(customer.pk, answer)[1] == kari.pk

    colleague = create_agent(team=oslo)
    with pytest.raises(InvalidInput, match="not connected to you"):
        agent_signal(colleague, offer)
    outsider = create_agent(team=create_team("Bergen"))
    with pytest.raises(NotFound):
        agent_signal(outsider, offer)
    with pytest.raises(NotFound):
        customer_signal(create_customer(team=oslo).pk, answer)
    with pytest.raises(NotFound):
        agent_signal(kari, {**offer, "call_id": call.pk + 1000})

    do_end_call(call, reason="the agent hung up", actor=kari)
    with pytest.raises(Conflict):
        customer_signal(customer.pk, answer)


def test_a_socket_sending_too_many_signals_is_held_back_until_the_window_passes():
    budget = SignalBudget(limit=3, window_seconds=10)
    assert [budget.take(100.0 + i) for i in range(4)] == [True, True, True, False]
    assert budget.take(111.0)


# --- STUN/TURN ------------------------------------------------------------------------------


def test_turn_servers_get_coturn_time_limited_credentials(settings):
    settings.TEAMLINE = {
        **settings.TEAMLINE,
        "ICE_SERVERS": '[{"urls": "stun:stun.example.org:3478"},'
        ' {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]},'
        ' {"urls": "turn:static.example.org", "username": "u", "credential": "p"}]',
        "TURN_SECRET": "north-secret",
        "TURN_CREDENTIAL_SECONDS": 600,
    }
    stun, turn, static = ice_servers_for("customer-7", now=1_800_000_000)
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["username"] == "1800000600:customer-7"
    expected = base64.b64encode(
        hmac.new(b"north-secret", b"1800000600:customer-7", hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected
    assert static == {"urls": ["turn:static.example.org"], "username": "u", "credential": "p"}


def test_loopback_needs_no_ice_servers_and_a_wrong_list_is_said_at_start(settings):
    assert ice_servers_for("agent-1") == []
    for raw, problem in [
        ("{", "not JSON"),
        ('{"urls": "stun:x"}', "JSON list"),
        ('[{"urls": "http://x"}]', "stun:, stuns:, turn: or turns:"),
        ('[{"urls": "stun:x", "password": "p"}]', "unknown keys: password"),
    ]:
        with pytest.raises(IceConfigError, match=problem):
            parse_ice_servers(raw)
    settings.TEAMLINE = {**settings.TEAMLINE, "ICE_SERVERS": "[{]"}
    with pytest.raises(SystemCheckError, match="TEAMLINE_ICE_SERVERS is not JSON"):
        call_command("check")
