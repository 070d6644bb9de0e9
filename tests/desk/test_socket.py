"""The desk socket (/ws/desk/, docs/websockets.md): who hears what."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from teamline.accounts.models import User
from teamline.asgi import application
from teamline.core import pressure, sockets
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    asend_ephemeral,
    conversation_group,
    customer_group,
    send_event_on_commit,
    team_group,
    user_group,
)
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_team,
    create_user,
    record_database_hops,
)
from teamline.desk import consumers

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
    answer = await socket.receive_json_from()
    while answer["type"] == "event":  # the conversation's other pushes may still be arriving
        answer = await socket.receive_json_from()
    assert answer == {"type": "subscribed", "conversation": conversation.pk}
    await socket.disconnect()


@socket_test
async def test_a_desk_in_several_of_an_events_groups_shows_it_once(teams):
    # An admin in the Oslo team, assigned the conversation: the push goes to the team, the
    # admins and their own user group, and each copy reaches this one socket.
    admin = await database_sync_to_async(create_user)("boss", role="admin", team=teams["oslo"])
    socket = await connected(admin)
    await drain(socket)

    def commit_an_event() -> None:
        with transaction.atomic():
            send_event_on_commit(
                Event(EventType.PRESENCE_CHANGED, staff={"user": admin.pk, "presence": "away"}),
                Recipients(
                    staff=frozenset(
                        {team_group(teams["oslo"].pk), admins_group(), user_group(admin.pk)}
                    )
                ),
            )

    await database_sync_to_async(commit_an_event)()

    assert (await next_event(socket, "presence.changed"))["presence"] == "away"
    extra = None if await socket.receive_nothing(timeout=0.5) else await socket.receive_output()
    assert extra is None, extra
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


async def next_typing_frame(layer, channel):
    """The next typing frame pushed to a customer's channel; the conversation's own message
    may still be on its way (pushes leave from the event loop after commit) and is skipped."""
    while True:
        frame = json.loads((await asyncio.wait_for(layer.receive(channel), timeout=3))["text"])
        if frame["type"] == "typing":
            return frame
        assert frame["type"] == "message", frame


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
    # Encoded once, as the widget's frame (core/events.py): every customer socket gets this text.
    assert await next_typing_frame(layer, widget) == {
        "type": "typing",
        "from": "agent",
        "name": "Kari",
        "state": True,
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
    assert (await next_typing_frame(layer, widget))["state"] is False
    assert await ola.receive_nothing(timeout=0.5)  # Ola left the conversation

    # Kari closes the desk mid-sentence: the customer is not left with "typing…".
    await kari.send_json_to({"type": "typing", "conversation": conversation.pk, "state": True})
    assert (await next_typing_frame(layer, widget))["state"] is True
    await kari.disconnect()
    assert (await next_typing_frame(layer, widget))["state"] is False
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


@socket_test
async def test_the_agent_viewing_a_conversation_says_once_that_the_pushed_messages_are_read(teams):
    # desk.js adds a customer's plain messages from their pushes instead of reading the history
    # again (which marked them read): it sends one `read` frame for the burst.
    from teamline.core.testing import customer_says

    from .support import assigned_to

    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name="Astrid")
    conversation = await database_sync_to_async(assigned_to)(teams["kari"], customer, "Hello")
    for text in ("Are you there?", "My bill is wrong"):
        await database_sync_to_async(customer_says)(customer, text)
    await conversation.arefresh_from_db()
    assert conversation.unread_count == 3
    kari = await connected(teams["kari"])
    bjorn = await connected(teams["bjorn"])

    await bjorn.send_json_to({"type": "read", "conversation": conversation.pk})
    assert await bjorn.receive_json_from() == {
        "type": "error",
        "code": "not_found",
        "conversation": conversation.pk,
    }
    await conversation.arefresh_from_db()
    assert conversation.unread_count == 3  # another team's agent changes nothing

    await kari.send_json_to({"type": "read", "conversation": conversation.pk})
    updated = await next_event(kari, "conversation.updated")
    assert updated["id"] == conversation.pk and updated["unread_count"] == 0
    await conversation.arefresh_from_db()
    assert conversation.unread_count == 0

    # Read again with nothing unread: no write, no push.
    await kari.send_json_to({"type": "read", "conversation": conversation.pk})
    assert await kari.receive_nothing(timeout=0.5)
    await kari.disconnect()
    await bjorn.disconnect()


@socket_test
async def test_a_new_message_never_moves_its_conversation_between_views_on_its_own(teams):
    # desk.js re-reads its inbox list only when an event changes what a view shows, and takes a
    # new message's conversation as still in the views it was in. So when the customer writes
    # to a pending conversation and reopens it with its agent, the message comes without its
    # conversation and a conversation.updated says it is open again; a message to an open
    # conversation carries it, and nothing else follows.
    from teamline.conversations.actions import do_change_status
    from teamline.core.testing import customer_says

    from .support import assigned_to

    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name="Astrid")
    conversation = await database_sync_to_async(assigned_to)(teams["kari"], customer, "Hello")
    await database_sync_to_async(do_change_status)(conversation, "pending", actor=teams["kari"])
    kari = await connected(teams["kari"])

    await database_sync_to_async(customer_says)(customer, "Here is the photo")
    message = await next_event(kari, "message.created")
    assert message["text"] == "Here is the photo" and "conversation" not in message
    updated = await next_event(kari, "conversation.updated")
    assert (updated["id"], updated["status"]) == (conversation.pk, "open")
    assert updated["assignee"]["id"] == teams["kari"].pk

    await database_sync_to_async(customer_says)(customer, "Did you get it?")
    message = await next_event(kari, "message.created")
    assert message["conversation"]["status"] == "open"
    assert await kari.receive_nothing(timeout=0.5)
    await kari.disconnect()


# --- Supervisors: whispers and watching (conversations/supervision.py) -------------------------


@database_sync_to_async
def assigned_chat(teams, agent):
    from teamline.routing.actions import do_assign_conversation

    customer = create_customer(team=teams["oslo"], name="Nora")
    conversation = conversation_of(customer, "My data stopped working")
    do_assign_conversation(conversation, agent, actor=None, reason="test")
    conversation.refresh_from_db()
    return conversation


@pytest.mark.integration
@socket_test
async def test_a_whisper_reaches_the_assigned_agent_and_not_a_colleague(teams):
    from teamline.conversations.supervision import do_whisper

    siv_user = await database_sync_to_async(create_user)(
        "siv", role="supervisor", supervises=teams["oslo"], display_name="Siv"
    )
    conversation = await assigned_chat(teams, teams["kari"])
    kari, ola, siv = (
        await connected(teams["kari"]),
        await connected(teams["ola"]),
        await connected(siv_user),
    )

    await database_sync_to_async(do_whisper)(conversation, "Offer the roaming pack", actor=siv_user)

    heard = await next_event(kari, "whisper.created")
    assert heard["text"] == "Offer the roaming pack"
    assert (await next_event(siv, "whisper.created"))["id"] == heard["id"]
    assert await ola.receive_nothing(timeout=0.5)
    for socket in (kari, ola, siv):
        await socket.disconnect()


@socket_test
async def test_a_supervisor_watching_is_shown_to_the_agent_until_the_socket_closes(teams):
    siv_user = await database_sync_to_async(create_user)(
        "siv", role="supervisor", supervises=teams["oslo"], display_name="Siv"
    )
    conversation = await assigned_chat(teams, teams["kari"])
    kari, siv = await connected(teams["kari"]), await connected(siv_user)

    await siv.send_json_to({"type": "watch", "conversation": conversation.pk})

    assert await siv.receive_json_from(timeout=3) == {
        "type": "watching",
        "conversation": conversation.pk,
    }
    started = await next_event(kari, "supervision.updated")
    assert started["action"] == "watch"
    assert started["watchers"] == [{"id": siv_user.pk, "name": "Siv"}]
    await siv.disconnect()
    ended = await next_event(kari, "supervision.updated")
    assert (ended["action"], ended["watchers"]) == ("unwatch", [])
    await kari.disconnect()


@socket_test
async def test_an_agent_cannot_watch_and_another_team_is_not_found(teams):
    conversation = await assigned_chat(teams, teams["kari"])
    ola, bjorn = await connected(teams["ola"]), await connected(teams["bjorn"])

    await ola.send_json_to({"type": "watch", "conversation": conversation.pk})
    await bjorn.send_json_to({"type": "watch", "conversation": conversation.pk})

    refused = await ola.receive_json_from(timeout=3)
    assert (refused["type"], refused["code"]) == ("error", "forbidden")
    assert await bjorn.receive_json_from(timeout=3) == {
        "type": "error",
        "code": "not_found",
        "conversation": conversation.pk,
    }
    await ola.disconnect()
    await bjorn.disconnect()


# --- Back-pressure: the socket keeps reading while its frames wait for the database ----------
#
# The desk socket used to wait for the database inside its frame handler; under load uvicorn
# then stopped reading the socket, keepalive pongs unread, and closed it with 1011. Now frames
# that need the database wait in order for the socket's own task (core/sockets.py, as on the
# widget socket), the handler returns at once, and frames that need no database never leave the
# event loop.


@contextlib.asynccontextmanager
async def database_thread_blocked():
    """The database threads (Channels' one, and on PostgreSQL the sockets' frame threads:
    core/sockets.py) busy until the block ends, as behind long queries under load."""
    started, gate = threading.Semaphore(0), threading.Event()

    def busy() -> None:
        started.release()
        gate.wait(10)

    blocked = [asyncio.ensure_future(database_sync_to_async(busy)())]
    frames = sockets.frame_executor()
    if frames is not None:
        loop = asyncio.get_running_loop()
        blocked += [loop.run_in_executor(frames, busy) for _ in range(sockets.FRAME_THREADS)]
    for _ in blocked:
        assert await asyncio.to_thread(started.acquire, True, 5)
    try:
        yield
    finally:
        gate.set()
        await asyncio.gather(*blocked)


async def next_answer(socket: WebsocketCommunicator) -> dict:
    """The next frame that answers one the desk sent (pushed events are skipped)."""
    while True:
        frame = await socket.receive_json_from(timeout=3)
        if frame["type"] != "event":
            return frame


async def customer_chat(teams, name="Astrid"):
    customer = await database_sync_to_async(create_customer)(team=teams["oslo"], name=name)
    return await database_sync_to_async(conversation_of)(customer)


@socket_test
async def test_a_desk_keeps_typing_and_is_told_busy_while_the_database_is_blocked(teams):
    conversations = [await customer_chat(teams, name) for name in ("Astrid", "Brit", "Cato")]
    first = conversations[0]
    layer = get_channel_layer()
    widget = await layer.new_channel()
    await layer.group_add(customer_group(first.customer_id), widget)
    kari, ola = await connected(teams["kari"]), await connected(teams["ola"])
    for socket in (kari, ola):
        await socket.send_json_to({"type": "subscribe", "conversation": first.pk})
        assert (await socket.receive_json_from())["type"] == "subscribed"
    await drain(kari)
    await drain(ola)
    more = [c.pk for c in conversations[1:]]
    subscribes = [*more, *more, *more][: pressure.MAX_WAITING_PER_SOCKET + 2]

    async with database_thread_blocked():
        # Typing in a subscribed conversation needs no database: it reaches the customer and
        # the colleague while the database thread is still blocked.
        await kari.send_json_to({"type": "typing", "conversation": first.pk, "state": True})
        assert (await next_typing_frame(layer, widget))["state"] is True
        assert (await next_event(ola, "typing"))["user"]["name"] == "Kari"
        # Frames that need it wait; beyond what one socket may keep waiting, the desk is told
        # busy straight away (the socket has read every frame meanwhile).
        for pk in subscribes:
            await kari.send_json_to({"type": "subscribe", "conversation": pk})
        busy = [await next_answer(kari) for _ in range(2)]
        assert [(b["type"], b["frame"]) for b in busy] == [("busy", "subscribe")] * 2
        assert [b["conversation"] for b in busy] == subscribes[-2:]
        assert all(b["retry_after"] >= 1 for b in busy)
        assert await kari.receive_nothing(timeout=0.3)

    # Once the database answers, the accepted frames are answered in the order they came.
    accepted = subscribes[: pressure.MAX_WAITING_PER_SOCKET]
    answers = [await next_answer(kari) for _ in accepted]
    assert answers == [{"type": "subscribed", "conversation": pk} for pk in accepted]
    assert await kari.receive_nothing(timeout=0.3)
    await layer.group_discard(customer_group(first.customer_id), widget)
    for socket in (kari, ola):
        await socket.disconnect()


@socket_test
async def test_a_desks_frames_take_effect_in_the_order_they_came(teams):
    conversation = await customer_chat(teams)
    ola = await connected(teams["ola"])

    async with database_thread_blocked():
        # The subscribe waits for the database; the unsubscribe after it needs none, and still
        # waits its turn: the desk ends up not subscribed, as it asked last.
        await ola.send_json_to({"type": "subscribe", "conversation": conversation.pk})
        await ola.send_json_to({"type": "unsubscribe", "conversation": conversation.pk})
        assert await ola.receive_nothing(timeout=0.3)

    assert await ola.receive_json_from(timeout=3) == {
        "type": "subscribed",
        "conversation": conversation.pk,
    }
    await asend_ephemeral(
        Event(EventType.TYPING, staff={"conversation": conversation.pk, "from": "customer"}),
        Recipients(staff=frozenset({conversation_group(conversation.pk)})),
    )
    assert await ola.receive_nothing(timeout=0.5)  # not subscribed any more
    await ola.disconnect()


@socket_test
async def test_a_desk_frame_that_waited_too_long_for_the_database_is_refused_not_done(
    teams, monkeypatch
):
    monkeypatch.setattr(pressure, "MAX_WAIT_SECONDS", 0.2)
    slow, other = await customer_chat(teams, "Astrid"), await customer_chat(teams, "Brit")
    kari = await connected(teams["kari"])
    original, calls = consumers.access_conversation, []

    def slow_first_access(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)  # its work had started: it is done and answered
        return original(*args, **kwargs)

    monkeypatch.setattr(consumers, "access_conversation", slow_first_access)

    await kari.send_json_to({"type": "subscribe", "conversation": slow.pk})
    await kari.send_json_to({"type": "read", "conversation": other.pk})

    assert await kari.receive_json_from(timeout=3) == {
        "type": "subscribed",
        "conversation": slow.pk,
    }
    refused = await kari.receive_json_from(timeout=3)
    assert (refused["type"], refused["frame"], refused["conversation"]) == (
        "busy",
        "read",
        other.pk,
    )
    assert len(calls) == 1  # the refused frame never reached the database
    # What the desk does next: the same frame again, now done (nothing answered for a read).
    await kari.send_json_to({"type": "read", "conversation": other.pk})
    assert await kari.receive_nothing(timeout=0.5)
    assert len(calls) == 2
    await kari.disconnect()


@socket_test
async def test_a_desk_socket_opens_in_one_database_hop(teams, monkeypatch):
    # Session, second factor and groups are read together: each hop waits its turn in the one
    # database thread, behind everybody else's work.
    hops = record_database_hops(monkeypatch, consumers)
    kari = await connected(teams["kari"])

    assert hops == ["open_desk_socket"]
    await kari.disconnect()
