"""The desk socket (/ws/desk/, docs/websockets.md): who hears what."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from teamline.accounts.models import User
from teamline.asgi import application
from teamline.core.events import Event, EventType, Recipients, asend_ephemeral, customer_group
from teamline.core.testing import create_agent, create_customer, create_team, create_user

from .support import conversation_of

socket_test = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


async def desk_socket(user: User | None) -> WebsocketCommunicator:
    """A desk socket signed in as `user` with a real session cookie (None: anonymous)."""
    headers = list(ORIGIN)
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return WebsocketCommunicator(application, "/ws/desk/", headers=headers)


async def connected(user: User) -> WebsocketCommunicator:
    socket = await desk_socket(user)
    ok, _ = await socket.connect()
    assert ok
    return socket


async def next_event(socket: WebsocketCommunicator, event: str, timeout: float = 3) -> dict:
    """The data of the next pushed `event` (other events are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await socket.receive_json_from(timeout=timeout)
            if frame["type"] == "event" and frame["event"] == event:
                return frame["data"]


async def drain(socket: WebsocketCommunicator) -> None:
    while not await socket.receive_nothing(timeout=0.3):
        await socket.receive_output()


@pytest.fixture
def teams(transactional_db):
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    return {
        "oslo": oslo,
        "bergen": bergen,
        "kari": create_agent("kari", team=oslo, display_name="Kari"),
        "ola": create_agent("ola", team=oslo, display_name="Ola"),
        "bjorn": create_agent("bjorn", team=bergen, display_name="Bjørn"),
    }


@socket_test
async def test_anonymous_sockets_are_closed_with_4401():
    socket = await desk_socket(None)
    await socket.connect()
    closing = await socket.receive_output(timeout=2)
    assert closing == {"type": "websocket.close", "code": 4401}


@pytest.mark.integration
@socket_test
async def test_team_events_reach_the_team_and_no_one_else(teams):
    kari, bjorn = await connected(teams["kari"]), await connected(teams["bjorn"])
    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name="Astrid")
    conversation = await database_sync_to_async(conversation_of)(customer, "Hello")

    data = await next_event(kari, "conversation.created")
    assert data["id"] == conversation.pk and data["customer"]["name"] == "Astrid"
    message = await next_event(kari, "message.created")
    assert message["text"] == "Hello"
    assert await bjorn.receive_nothing(timeout=0.5)
    await kari.disconnect()
    await bjorn.disconnect()


@socket_test
async def test_admins_hear_every_team(teams):
    admin = await database_sync_to_async(create_user)("boss", role="admin")
    socket = await connected(admin)
    customer = await database_sync_to_async(create_customer)(team=teams["bergen"])
    conversation = await database_sync_to_async(conversation_of)(customer)
    assert (await next_event(socket, "conversation.created"))["id"] == conversation.pk
    await socket.send_json_to({"type": "subscribe", "conversation": conversation.pk})
    assert await socket.receive_json_from() == {
        "type": "subscribed",
        "conversation": conversation.pk,
    }
    await socket.disconnect()


@pytest.mark.integration
@socket_test
async def test_another_teams_conversation_cannot_be_subscribed_nor_overheard(teams):
    customer = await database_sync_to_async(create_customer)(team=teams["bergen"], name="Berit")
    conversation = await database_sync_to_async(conversation_of)(customer)
    kari, bjorn = await connected(teams["kari"]), await connected(teams["bjorn"])
    await drain(bjorn)

    await kari.send_json_to({"type": "subscribe", "conversation": conversation.pk})
    assert await kari.receive_json_from() == {
        "type": "error",
        "code": "not_found",
        "conversation": conversation.pk,
    }
    await kari.send_json_to({"type": "typing", "conversation": conversation.pk, "state": True})
    assert (await kari.receive_json_from())["code"] == "not_found"

    await bjorn.send_json_to({"type": "subscribe", "conversation": conversation.pk})
    assert (await bjorn.receive_json_from())["type"] == "subscribed"
    await bjorn.send_json_to({"type": "typing", "conversation": conversation.pk, "state": True})
    typing = await next_event(bjorn, "typing")  # the conversation's subscribers hear it…
    assert typing["user"]["name"] == "Bjørn" and typing["state"] is True
    await asend_ephemeral(  # …and so would anyone in its group
        Event(
            EventType.TYPING,
            staff={"conversation": conversation.pk, "from": "customer", "state": True},
        ),
        Recipients(staff=frozenset({f"conversation.{conversation.pk}"})),
    )
    await next_event(bjorn, "typing")
    assert await kari.receive_nothing(timeout=0.5)  # …but Kari never joined it
    await kari.disconnect()
    await bjorn.disconnect()


@pytest.mark.integration
@socket_test
async def test_an_agent_typing_reaches_the_customer_and_colleagues(teams):
    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name="Astrid")
    conversation = await database_sync_to_async(conversation_of)(customer)
    layer = get_channel_layer()
    widget = await layer.new_channel()
    await layer.group_add(customer_group(customer.pk), widget)
    kari, ola = await connected(teams["kari"]), await connected(teams["ola"])
    for socket in (kari, ola):
        await socket.send_json_to({"type": "subscribe", "conversation": conversation.pk})
        assert (await socket.receive_json_from())["type"] == "subscribed"

    await kari.send_json_to({"type": "typing", "conversation": conversation.pk, "state": True})
    pushed = await asyncio.wait_for(layer.receive(widget), timeout=3)
    assert pushed == {
        "type": "event.customer",
        "event": "typing",
        "data": {"from": "agent", "name": "Kari", "state": True},
    }
    seen = await next_event(ola, "typing")
    assert seen == {
        "conversation": conversation.pk,
        "from": "agent",
        "user": {"id": teams["kari"].pk, "name": "Kari"},
        "name": "Kari",
        "state": True,
    }

    await ola.send_json_to({"type": "unsubscribe", "conversation": conversation.pk})
    await asyncio.sleep(0.1)
    await kari.send_json_to({"type": "typing", "conversation": conversation.pk, "state": False})
    pushed = await asyncio.wait_for(layer.receive(widget), timeout=3)
    assert pushed["data"]["state"] is False
    assert await ola.receive_nothing(timeout=0.5)  # Ola left the conversation

    # Kari closes the desk mid-sentence: the customer is not left with "typing…".
    await kari.send_json_to({"type": "typing", "conversation": conversation.pk, "state": True})
    assert (await asyncio.wait_for(layer.receive(widget), timeout=3))["data"]["state"] is True
    await kari.disconnect()
    assert (await asyncio.wait_for(layer.receive(widget), timeout=3))["data"]["state"] is False
    await layer.group_discard(customer_group(customer.pk), widget)
    await ola.disconnect()


@socket_test
async def test_bad_frames_get_an_error_and_the_socket_stays_open(teams):
    socket = await connected(teams["kari"])
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.send_json_to({"type": "dance"})
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.send_json_to({"type": "subscribe", "conversation": "1 OR 1=1"})
    assert (await socket.receive_json_from())["code"] == "not_found"
    await socket.disconnect()


@pytest.mark.integration
@socket_test
async def test_a_frame_nested_too_deep_closes_the_desk_socket_with_1007(teams):
    socket = await connected(teams["kari"])
    await socket.send_to(text_data='{"type": "subscribe", "x": ' + "[" * 2000 + "]" * 2000 + "}")
    closing = await socket.receive_output(timeout=3)
    assert closing == {"type": "websocket.close", "code": 1007}


@pytest.mark.integration
@socket_test
async def test_an_oversized_frame_closes_the_desk_socket_with_1009(teams):
    socket = await connected(teams["kari"])
    # The largest frame is a browser call's offer (16 KiB of SDP); anything beyond is refused.
    await socket.send_to(text_data='{"type": "typing", "pad": "' + "x" * 21_000 + '"}')
    closing = await socket.receive_output(timeout=3)
    assert closing == {"type": "websocket.close", "code": 1009}


@socket_test
async def test_a_desk_frame_is_never_echoed_back_beyond_an_id(teams):
    socket = await connected(teams["kari"])
    await socket.send_json_to({"type": "subscribe", "conversation": {"nested": ["x"] * 50}})
    answer = await socket.receive_json_from(timeout=3)
    assert answer == {"type": "error", "code": "not_found", "conversation": None}
    await socket.disconnect()


@socket_test
async def test_a_calls_changes_reach_its_agents_desk_and_not_another_teams(teams):
    """The call panel follows call.updated from the desk socket: the agent it rings for hears
    it; another team's agent does not."""
    from teamline.calls.actions import do_open_call
    from teamline.calls.models import CallMedium

    kari, bjorn = await connected(teams["kari"]), await connected(teams["bjorn"])
    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name="Astrid")
    conversation = await database_sync_to_async(conversation_of)(customer, "Can I call?")
    call = await database_sync_to_async(do_open_call)(conversation, medium=CallMedium.AUDIO)

    data = await next_event(kari, "call.updated")
    assert (data["id"], data["state"], data["medium"]) == (call.pk, "waiting", "audio")
    assert await bjorn.receive_nothing(timeout=0.5)
    await kari.disconnect()
    await bjorn.disconnect()
