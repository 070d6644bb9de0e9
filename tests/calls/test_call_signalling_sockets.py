"""A browser call over the real sockets: the customer starts it from the widget socket, the
agent who accepted it and the customer exchange offer, answer and ICE candidates through the
widget and desk sockets, and nobody else — another team's agent, a colleague, another
customer — can send into the call or hears any of it. Closing the widget ends the call."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from teamline.calls.actions import do_accept_call
from teamline.calls.models import Call, CallState
from teamline.core.testing import create_agent, create_inbox, create_team
from tests.desk.test_socket import connected, drain
from tests.widget.sockets import ChatTab, start_session

socket_test = pytest.mark.django_db(transaction=True)
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


@pytest.fixture
def people(transactional_db):
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    return {
        "oslo": oslo,
        "inbox": create_inbox(oslo),
        "kari": create_agent("kari", team=oslo, presence="available", display_name="Kari"),
        "ola": create_agent("ola", team=oslo, display_name="Ola"),
        "bjorn": create_agent("bjorn", team=bergen, display_name="Bjørn"),
    }


async def next_frame(tab: ChatTab, kind: str) -> dict:
    """The next frame of type `kind` on the widget socket (others are skipped)."""
    for _ in range(20):
        frame = await tab.next()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def call_becomes(tab: ChatTab, state: str) -> dict:
    """The widget's `call` frame saying the call is now `state` (earlier states skipped)."""
    for _ in range(20):
        frame = await next_frame(tab, "call")
        if frame["call"]["state"] == state:
            return frame["call"]
    raise AssertionError(f"the call never became {state}")


async def next_desk(socket, kind: str) -> dict:
    for _ in range(20):
        frame = await socket.receive_json_from(timeout=3)
        if frame["type"] == kind or (frame["type"] == "event" and frame["event"] == kind):
            return frame
    raise AssertionError(f"no {kind} frame")


async def heard_signal(socket) -> bool:
    """Whether any call.signal reached this desk socket (everything pending is read)."""
    heard = False
    while not await socket.receive_nothing(timeout=0.3):
        frame = await socket.receive_json_from()
        heard = heard or frame.get("event") == "call.signal"
    return heard


async def start_call(people, medium: str = "video") -> tuple[ChatTab, dict]:
    token = await start_session(people["inbox"])
    tab = ChatTab()
    await tab.ready(token)
    await tab.send({"type": "call.start", "medium": medium})
    started = await next_frame(tab, "call.started")
    return tab, started


@socket_test
async def test_offer_answer_and_candidates_pass_only_between_customer_and_agent(people):
    kari, ola, bjorn = (
        await connected(people["kari"]),
        await connected(people["ola"]),
        await connected(people["bjorn"]),
    )
    tab, started = await start_call(people)
    call_id = started["call"]["id"]
    assert started["call"]["state"] == "waiting" and started["ice_servers"] == []
    ringing = await next_desk(kari, "call.updated")
    assert ringing["data"]["id"] == call_id and ringing["data"]["state"] == "waiting"

    call = await database_sync_to_async(Call.objects.get)(pk=call_id)
    await database_sync_to_async(do_accept_call)(call, actor=people["kari"])
    await call_becomes(tab, "connecting")
    for socket in (kari, ola, bjorn):
        await drain(socket)

    await kari.send_json_to(
        {"type": "call.signal", "call_id": call_id, "kind": "offer", "payload": OFFER}
    )
    assert await next_frame(tab, "call.signal") == {
        "type": "call.signal",
        "call_id": call_id,
        "kind": "offer",
        "payload": OFFER,
    }
    await tab.send({"type": "call.signal", "call_id": call_id, "kind": "answer", "payload": ANSWER})
    await tab.send({"type": "call.signal", "call_id": call_id, "kind": "ice", "payload": CANDIDATE})
    answer = await next_desk(kari, "call.signal")
    assert answer["data"] == {
        "call_id": call_id,
        "kind": "answer",
        "payload": ANSWER,
        "from": "customer",
    }
    ice = await next_desk(kari, "call.signal")
    assert ice["data"]["payload"] == {**CANDIDATE, "usernameFragment": None}

    # A colleague and another team's agent cannot send into the call, and heard none of it.
    for outsider, code in ((ola, "invalid"), (bjorn, "not_found")):
        await outsider.send_json_to(
            {"type": "call.signal", "call_id": call_id, "kind": "offer", "payload": OFFER}
        )
        error = await outsider.receive_json_from(timeout=3)
        assert error["type"] == "error" and error["code"] == code
        assert error["call_id"] == call_id
        assert await outsider.receive_nothing(timeout=0.3)
    assert await tab.hears_nothing(timeout=0.3)

    # Another customer cannot send into it either, nor hear it.
    other, _ = await start_call(people, medium="audio")
    await other.send(
        {"type": "call.signal", "call_id": call_id, "kind": "answer", "payload": ANSWER}
    )
    error = await next_frame(other, "error")
    assert error["code"] == "not_found" and error["about"] == "call"
    assert not await heard_signal(kari)  # (the other call rings for Kari: only that)
    await tab.send({"type": "call.signal", "call_id": 999999, "kind": "bye", "payload": None})
    assert (await next_frame(tab, "error"))["code"] == "not_found"

    for socket in (kari, ola, bjorn):
        await socket.disconnect()
    await tab.close()
    await other.close()


@socket_test
async def test_too_large_or_malformed_signals_are_refused_and_nothing_is_relayed(people):
    kari = await connected(people["kari"])
    tab, started = await start_call(people)
    call_id = started["call"]["id"]
    call = await database_sync_to_async(Call.objects.get)(pk=call_id)
    await database_sync_to_async(do_accept_call)(call, actor=people["kari"])
    await call_becomes(tab, "connecting")
    await drain(kari)

    huge = {"type": "offer", "sdp": "a=x\r\n" * 4000}  # 20,000 characters of SDP
    await tab.send({"type": "call.signal", "call_id": call_id, "kind": "answer", "payload": huge})
    error = await next_frame(tab, "error")
    assert error["code"] == "invalid"
    await tab.send({"type": "call.signal", "call_id": call_id, "kind": "ice", "payload": "x"})
    assert (await next_frame(tab, "error"))["code"] == "invalid"
    await kari.send_json_to(
        {"type": "call.signal", "call_id": call_id, "kind": "offer", "payload": {"sdp": 5}}
    )
    assert (await kari.receive_json_from(timeout=3))["code"] == "invalid"
    assert await kari.receive_nothing(timeout=0.3)
    assert await tab.hears_nothing(timeout=0.3)
    await kari.disconnect()
    await tab.close()


@socket_test
async def test_a_second_call_is_refused_and_closing_the_widget_ends_the_call(people):
    tab, started = await start_call(people, medium="audio")
    await tab.send({"type": "call.start", "medium": "video"})
    refused = await next_frame(tab, "error")
    assert refused["code"] == "conflict" and refused["about"] == "call"
    await tab.close()
    call = await database_sync_to_async(Call.objects.get)(pk=started["call"]["id"])
    assert call.state == CallState.ENDED
    assert call.end_reason == "the customer cancelled while waiting"


@socket_test
async def test_the_customer_cancels_a_waiting_call_from_the_widget(people):
    tab, started = await start_call(people)
    await tab.send({"type": "call.end", "call_id": started["call"]["id"]})
    assert (await call_becomes(tab, "ended"))["ended_at"]
    await tab.close()


@socket_test
async def test_starting_calls_counts_against_the_widgets_message_rate(people, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_MESSAGES_PER_SESSION_PER_MINUTE": 1}
    tab, started = await start_call(people, medium="audio")
    await tab.send({"type": "call.end", "call_id": started["call"]["id"]})
    await call_becomes(tab, "ended")
    await tab.send({"type": "call.start", "medium": "audio"})
    refused = await next_frame(tab, "error")
    assert refused["code"] == "rate_limited" and refused["about"] == "call"
    assert await database_sync_to_async(Call.objects.count)() == 1
    await tab.close()
