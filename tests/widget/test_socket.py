"""The customer's live chat: the widget socket, from the customer's side.

Transactional tests, so actions commit and their events are pushed (after commit) as in
production. The ones marked `integration` also run on PostgreSQL + Redis.
"""

import asyncio
import gc
import json
import uuid
import weakref

import channels.consumer
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from teamline.conversations.models import Message
from teamline.conversations.queries import current_conversation_for
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core import pressure
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    asend_ephemeral,
    conversation_group,
    customer_group,
)
from teamline.widget.consumers import WidgetConsumer

from .sockets import WAIT, ChatTab, start_session

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def conversation_of(customer_id):
    return current_conversation_for(customer_id)


@database_sync_to_async
def messages_with_client_id(client_id):
    return Message.objects.filter(external_id__endswith=f":{client_id}").count()


async def customer_id_of(token):
    from teamline.connectors.webchat import read_session

    return read_session(token).customer_id


def widget_consumer_of(customer_id):
    """The live consumer of this customer's socket (`type`, not isinstance: a lazy object
    left by another test would be evaluated by isinstance)."""
    (consumer,) = [
        found
        for found in gc.get_objects()
        if type(found) is WidgetConsumer
        and found.session is not None
        and found.session.customer.pk == customer_id
    ]
    return consumer


# --- Getting in ------------------------------------------------------------------------------


async def test_a_socket_with_a_bad_token_is_closed_with_4401(inbox):
    tab = ChatTab()

    answer = await tab.open("not-a-token")

    assert answer == {"type": "websocket.close", "code": 4401}


async def test_a_socket_that_talks_before_authenticating_is_closed_with_4401(inbox):
    tab = ChatTab()
    connected, _ = await tab.socket.connect(timeout=WAIT)
    assert connected

    await tab.send({"type": "message", "client_id": str(uuid.uuid4()), "text": "Hello?"})

    assert await tab.socket.receive_output(timeout=WAIT) == {
        "type": "websocket.close",
        "code": 4401,
    }


async def test_a_socket_that_never_authenticates_is_closed(inbox, monkeypatch):
    monkeypatch.setattr("teamline.widget.consumers.AUTH_TIMEOUT_SECONDS", 0.1)
    tab = ChatTab()
    connected, _ = await tab.socket.connect(timeout=WAIT)
    assert connected

    assert await tab.socket.receive_output(timeout=WAIT) == {
        "type": "websocket.close",
        "code": 4401,
    }


async def test_an_idle_authenticated_socket_keeps_nothing_of_its_auth_deadline(inbox):
    """Ten thousand idle widgets each keep their socket's objects for hours: the deadline that
    closes an unauthenticated socket is gone once the socket authenticated (a cancelled task
    kept its exception, two tracebacks and their frames for the socket's whole life)."""
    token = await start_session(inbox)
    customer_id = await customer_id_of(token)
    tab = ChatTab()
    await tab.ready(token)

    consumer = widget_consumer_of(customer_id)
    assert consumer.auth_timer is None
    assert consumer.auth_refusal is None
    kept = [value for value in vars(consumer).values() if isinstance(value, asyncio.Future)]
    assert kept == []
    await tab.close()


async def test_a_closed_socket_is_freed_without_the_cycle_collector(inbox):
    """A visitor who leaves the page: everything the socket held goes at once, by reference
    counting. The server freezes what survives Python's full collections (core/gcpolicy.py),
    so a socket kept alive by a reference cycle would stay until the next walk of everything
    (22 KB per closed socket on the bench, docs/benchmarks.md)."""
    token = await start_session(inbox)
    customer_id = await customer_id_of(token)
    tab = ChatTab()
    await tab.ready(token)
    consumer = widget_consumer_of(customer_id)
    gone = weakref.ref(consumer)
    del consumer
    gc.disable()
    try:
        await tab.close()
        for _ in range(50):
            if gone() is None:
                break
            await asyncio.sleep(0.01)
        assert gone() is None
    finally:
        gc.enable()


async def test_a_page_outside_the_inbox_allow_list_is_closed_with_4403(inbox):
    inbox.allowed_origins = ["https://www.nordlys.example"]
    await database_sync_to_async(inbox.save)(update_fields=["allowed_origins"])
    token = await start_session(inbox)

    refused = await ChatTab(origin="https://phish.example").open(token)
    welcome = ChatTab(origin="https://www.nordlys.example")
    ready = await welcome.ready(token)

    assert refused == {"type": "websocket.close", "code": 4403}
    assert ready["type"] == "ready"
    await welcome.close()


async def test_ready_brings_the_team_and_the_whole_visible_thread(inbox, kari):
    token = await start_session(inbox)
    tab = ChatTab()
    ready = await tab.ready(token)
    assert ready["messages"] == [] and ready["conversation"] is None
    assert ready["team"]["name"] == "Oslo"
    assert ready["team"]["members"] == [{"name": "Kari Nordmann", "photo": None, "online": True}]
    await tab.say("My data stopped working in Bodø")
    await tab.close()
    conversation = await conversation_of(await customer_id_of(token))
    await database_sync_to_async(do_send_reply)(conversation, "Looking at it!", actor=kari)
    await database_sync_to_async(do_add_note)(conversation, "Mast 12 is down", actor=kari)

    again = ChatTab()
    ready = await again.ready(token)

    assert [(m["from"], m["sender_name"], m["text"]) for m in ready["messages"]] == [
        ("customer", None, "My data stopped working in Bodø"),
        ("agent", "Kari Nordmann", "Looking at it!"),
    ]
    assert ready["conversation"] == {"id": conversation.pk, "status": "open"}
    await again.close()


# --- Writing -----------------------------------------------------------------------------------


@pytest.mark.integration
async def test_a_message_is_stored_acknowledged_and_never_duplicated_by_a_resend(inbox, kari):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    client_id = str(uuid.uuid4())

    ack = await tab.say("Is there an outage in Tromsø?", client_id=client_id)
    echo = await tab.next_message()  # every tab of this customer hears the message too

    assert ack["type"] == "ack" and ack["client_id"] == client_id
    message = ack["message"]
    assert message["from"] == "customer"
    assert message["text"] == "Is there an outage in Tromsø?"
    assert message["client_id"] == client_id
    assert echo == message

    # The connection drops before the widget sees the ack; it reconnects and sends again.
    await tab.close()
    again = ChatTab()
    ready = await again.ready(token)
    resent = await again.say("Is there an outage in Tromsø?", client_id=client_id)

    assert [m["id"] for m in ready["messages"]] == [message["id"]]
    assert resent == {"type": "ack", "client_id": client_id, "message": message}
    assert await messages_with_client_id(client_id) == 1
    assert await again.hears_nothing()  # nothing new was created, so nothing is pushed
    await again.close()


@pytest.mark.integration
async def test_an_agent_reply_arrives_on_the_customers_socket(inbox, kari):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    ack = await tab.say("Can I keep my number if I switch to Nordlys?")
    await tab.next_message()
    conversation = await conversation_of(await customer_id_of(token))

    reply, _ = await database_sync_to_async(do_send_reply)(
        conversation, "Yes, we port it for free.", actor=kari
    )

    pushed = await tab.next_message()
    assert pushed["id"] == reply.pk
    assert pushed["conversation_id"] == ack["message"]["conversation_id"]
    assert pushed["from"] == "agent"
    assert pushed["sender_name"] == "Kari Nordmann"
    assert pushed["text"] == "Yes, we port it for free."
    await tab.close()


@pytest.mark.integration
async def test_an_internal_note_never_reaches_the_customer(inbox, kari):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    await tab.say("Why is my bill so high?")
    await tab.next_message()
    conversation = await conversation_of(await customer_id_of(token))

    await database_sync_to_async(do_add_note)(
        conversation, "Customer disputed roaming charges twice before", actor=kari
    )

    assert await tab.hears_nothing(timeout=1.0)
    # The pipe works: the next customer-visible message is the first thing the customer hears.
    await database_sync_to_async(do_send_reply)(conversation, "Let me check.", actor=kari)
    assert (await tab.next_message())["text"] == "Let me check."
    await tab.close()


@database_sync_to_async
def supervisor_of(team):
    from teamline.core.testing import create_user

    return create_user("siv", role="supervisor", supervises=team, display_name="Siv Lead")


@database_sync_to_async
def assigned_to(conversation, agent):
    from teamline.routing.actions import do_assign_conversation

    if conversation.assignee_id != agent.pk:
        do_assign_conversation(conversation, agent, actor=None, reason="test")
    conversation.refresh_from_db()
    return conversation


@pytest.mark.integration
async def test_a_supervisors_whisper_never_reaches_the_customer(inbox, kari, oslo):
    from teamline.conversations.supervision import do_barge_in, do_whisper

    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    await tab.say("Why is my bill so high?")
    await tab.next_message()
    conversation = await assigned_to(await conversation_of(await customer_id_of(token)), kari)
    siv = await supervisor_of(oslo)

    await database_sync_to_async(do_whisper)(
        conversation, "She was billed twice for roaming: refund it", actor=siv
    )

    assert await tab.hears_nothing(timeout=1.0)
    # The pipe works: the supervisor barging in is the first thing the customer hears.
    await database_sync_to_async(do_barge_in)(conversation, "Siv here, I'll help.", actor=siv)
    pushed = await tab.next_message()
    assert pushed["text"] == "Siv here, I'll help."
    assert pushed["sender_name"] == "Siv Lead"
    await tab.close()


async def test_another_customers_reply_is_not_pushed_to_me(inbox, kari):
    mine, theirs = await start_session(inbox), await start_session(inbox)
    me, them = ChatTab(), ChatTab()
    await me.ready(mine)
    await them.ready(theirs)
    await them.say("Hello from another customer")
    await them.next_message()
    conversation = await conversation_of(await customer_id_of(theirs))

    await database_sync_to_async(do_send_reply)(conversation, "Hi there!", actor=kari)

    assert (await them.next_message())["text"] == "Hi there!"
    assert await me.hears_nothing()
    await me.close()
    await them.close()


@pytest.mark.parametrize(
    ("frame", "code", "detail"),
    [
        ({"type": "message", "client_id": "CID", "text": "   "}, "invalid", "empty"),
        ({"type": "message", "client_id": "CID"}, "invalid", "empty"),
        ({"type": "message", "client_id": "CID", "text": 42}, "invalid", "empty"),
        ({"type": "message", "client_id": "CID", "text": "x" * 10_001}, "invalid", "longer"),
        ({"type": "message", "client_id": "not-a-uuid", "text": "Hi"}, "invalid", "client_id"),
        ({"type": "message", "text": "Hi"}, "invalid", "client_id"),
        ({"type": "typing", "state": "yes"}, "invalid", "state"),
        ({"type": "subscribe", "conversation": 1}, "invalid", "Unknown"),
        ({"type": "auth", "token": "again"}, "invalid", "already"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_chat_goes_on(inbox, frame, code, detail):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    client_id = str(uuid.uuid4())
    frame = {k: client_id if v == "CID" else v for k, v in frame.items()}

    await tab.send(frame)
    error = await tab.next()

    assert error["type"] == "error" and error["code"] == code
    assert detail in error["detail"]
    if frame.get("client_id") == client_id:
        assert error["client_id"] == client_id
    assert (await tab.say("Still there?"))["type"] == "ack"
    assert await messages_with_client_id(client_id) == 0
    await tab.close()


async def test_frames_that_are_not_json_objects_get_an_error(inbox):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)

    await tab.socket.send_to(text_data="{oops")
    not_json = await tab.next()
    await tab.socket.send_to(text_data="[1, 2]")
    not_object = await tab.next()
    await tab.socket.send_to(bytes_data=b"\x00\x01")
    binary = await tab.next()

    assert {f["code"] for f in (not_json, not_object, binary)} == {"invalid"}
    assert (await tab.say("Still there?"))["type"] == "ack"
    await tab.close()


@pytest.mark.integration
async def test_a_message_with_nul_or_a_lone_surrogate_is_refused_by_name(inbox):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)

    nul = await tab.say("Hei\x00", client_id="2f1a0c4e-1111-4c3a-9a59-0a4a4a4a4a01")
    surrogate = await tab.say("Hei \ud800", client_id="2f1a0c4e-1111-4c3a-9a59-0a4a4a4a4a02")

    assert nul == {
        "type": "error",
        "code": "invalid_text",
        "detail": "The message contains a NUL character.",
        "client_id": "2f1a0c4e-1111-4c3a-9a59-0a4a4a4a4a01",
    }
    assert surrogate["code"] == "invalid_text"
    assert surrogate["client_id"] == "2f1a0c4e-1111-4c3a-9a59-0a4a4a4a4a02"
    assert (await tab.say("Hei"))["type"] == "ack"
    await tab.close()


async def test_a_frame_nested_too_deep_closes_the_widget_socket_with_1007(inbox):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)

    await tab.socket.send_to(text_data="[" * 5000 + "]" * 5000)

    assert await tab.socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 1007}


# --- Limits ------------------------------------------------------------------------------------


async def test_a_chatty_session_is_rate_limited(inbox, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_MESSAGES_PER_SESSION_PER_MINUTE": 2}
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    answers = []
    for text in ("one", "two", "three"):
        answers.append(await tab.say(text))
        if answers[-1]["type"] == "ack":
            await tab.next_message()

    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert answers[2]["code"] == "rate_limited"
    assert answers[2]["client_id"]
    await tab.close()


async def test_new_conversations_from_one_address_are_rate_limited(inbox, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR": 1}
    first, second, elsewhere = ChatTab(ip="203.0.113.9"), ChatTab(ip="203.0.113.9"), ChatTab()
    await first.ready(await start_session(inbox))
    await second.ready(await start_session(inbox))
    await elsewhere.ready(await start_session(inbox))

    opened = await first.say("I need help")
    await first.next_message()
    follow_up = await first.say("Still me, same conversation")  # not a new conversation
    refused = await second.say("Me too, from the same address")
    other_address = await elsewhere.say("Hello from another network")

    assert opened["type"] == follow_up["type"] == other_address["type"] == "ack"
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    for tab in (first, second, elsewhere):
        await tab.close()


# --- Typing ------------------------------------------------------------------------------------


async def staff_listener(group):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def test_customer_typing_reaches_the_agents_viewing_that_conversation(inbox):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    ack = await tab.say("Hello")
    await tab.next_message()
    conversation_id = ack["message"]["conversation_id"]
    layer, viewing = await staff_listener(conversation_group(conversation_id))
    _, elsewhere = await staff_listener(conversation_group(conversation_id + 1000))

    await tab.send({"type": "typing", "state": True})
    started = await asyncio.wait_for(layer.receive(viewing), WAIT)
    await tab.send({"type": "typing", "state": False})
    stopped = await asyncio.wait_for(layer.receive(viewing), WAIT)

    # Encoded once, as the desk's frame (core/events.py): every staff socket gets this text.
    assert started["type"] == "event.staff"
    assert json.loads(started["text"]) == {
        "type": "event",
        "event": "typing",
        "data": {"conversation": conversation_id, "from": "customer", "state": True},
    }
    assert json.loads(stopped["text"])["data"]["state"] is False
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(elsewhere), 0.3)
    await tab.close()


async def test_a_customer_who_leaves_while_typing_stops_typing(inbox):
    token = await start_session(inbox)
    tab = ChatTab()
    await tab.ready(token)
    ack = await tab.say("Hello")
    await tab.next_message()
    layer, viewing = await staff_listener(conversation_group(ack["message"]["conversation_id"]))
    await tab.send({"type": "typing", "state": True})
    await asyncio.wait_for(layer.receive(viewing), WAIT)

    await tab.close()

    assert (
        json.loads((await asyncio.wait_for(layer.receive(viewing), WAIT))["text"])["data"]["state"]
        is False
    )


async def test_agent_typing_is_shown_to_that_customer_only(inbox):
    mine, theirs = await start_session(inbox), await start_session(inbox)
    me, them = ChatTab(), ChatTab()
    await me.ready(mine)
    await them.ready(theirs)

    # What the desk sends when Kari types in my conversation.
    await asend_ephemeral(
        Event(
            EventType.TYPING,
            staff={"conversation": 1, "from": "agent", "user": 7, "state": True},
            customer={"from": "agent", "name": "Kari Nordmann", "state": True},
        ),
        Recipients(customer=frozenset({customer_group(await customer_id_of(mine))})),
    )

    assert await me.next() == {
        "type": "typing",
        "from": "agent",
        "name": "Kari Nordmann",
        "state": True,
    }
    assert await them.hears_nothing()
    await me.close()
    await them.close()


# --- Back-pressure ---------------------------------------------------------------------------


async def answer_to(tab, client_id):
    """The server's answer to one message (ack, busy or error), skipping pushes in between."""
    while True:
        frame = await tab.next()
        if frame["type"] in ("ack", "busy", "error") and frame.get("client_id") == client_id:
            return frame
        assert frame["type"] in ("message", "typing", "queue"), frame


async def test_at_overload_a_sender_is_told_busy_and_nothing_acked_is_lost(inbox, settings):
    # Room for one stored-but-unanswered widget message in this process: five customers who
    # send at the same moment overload it.
    settings.TEAMLINE = {**settings.TEAMLINE, "WIDGET_MAX_INFLIGHT": 1}
    tabs = []
    for _ in range(5):
        tab = ChatTab()
        await tab.ready(await start_session(inbox))
        tabs.append(tab)
    client_ids = [str(uuid.uuid4()) for _ in tabs]

    async def send_until_stored(tab, client_id):
        answers = []
        while not answers or answers[-1]["type"] == "busy":
            if answers:
                # What the widget does: wait for the hint, then send the same message again.
                await asyncio.sleep(answers[-1]["retry_after"] * 0.05)
            await tab.send({"type": "message", "client_id": client_id, "text": "Hello?"})
            answers.append(await answer_to(tab, client_id))
        return answers

    answers = await asyncio.gather(
        *(send_until_stored(tab, cid) for tab, cid in zip(tabs, client_ids, strict=True))
    )

    busy = [a for per_tab in answers for a in per_tab if a["type"] == "busy"]
    assert busy, "five simultaneous messages with room for one: somebody is told busy"
    assert all(a["retry_after"] >= 1 and a["detail"] for a in busy)
    # Every sender got its ack in the end, and every acked message is stored exactly once.
    assert [per_tab[-1]["type"] for per_tab in answers] == ["ack"] * 5
    for client_id in client_ids:
        assert await messages_with_client_id(client_id) == 1
    # No socket was closed by the server: each one still takes a message.
    for tab in tabs:
        client_id = str(uuid.uuid4())
        await tab.send({"type": "message", "client_id": client_id, "text": "Still there"})
        assert (await answer_to(tab, client_id))["type"] == "ack"
        await tab.close()


def hold_the_database_thread(monkeypatch, *, seconds=None):
    """Make the widget's message work wait in the database thread, once it has started (after
    the wait check): until the returned gate is opened, or for `seconds` on the first message
    only. Returns the gate."""
    import threading

    from teamline.widget import consumers

    gate = threading.Event()
    original = consumers.do_receive_customer_message
    calls = []

    def slow(*args, **kwargs):
        calls.append(1)
        if seconds is None:
            gate.wait(10)
        elif len(calls) == 1:
            gate.wait(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(consumers, "do_receive_customer_message", slow)
    return gate


async def test_a_socket_keeps_answering_while_its_message_waits_for_the_database(
    inbox, monkeypatch
):
    # A stalled database thread used to stall the socket too: its frames queued unread, and
    # the websocket library, reading nothing (not even keepalive pongs) once that queue was
    # full, closed the socket after its ping timeout (1011). Now the socket keeps reading and
    # answers at once what it cannot take.
    tab = ChatTab()
    await tab.ready(await start_session(inbox))
    gate = hold_the_database_thread(monkeypatch)
    client_ids = [str(uuid.uuid4()) for _ in range(pressure.MAX_WAITING_PER_SOCKET + 2)]

    for n, client_id in enumerate(client_ids):
        await tab.send({"type": "message", "client_id": client_id, "text": f"Hello {n}"})
    # While the first message is still held in the database thread, the socket has read every
    # frame: the ones beyond what it may keep waiting are answered busy straight away.
    told_busy = [await answer_to(tab, cid) for cid in client_ids[-2:]]
    assert [frame["type"] for frame in told_busy] == ["busy", "busy"]
    assert not gate.is_set()

    gate.set()
    accepted = client_ids[: pressure.MAX_WAITING_PER_SOCKET]
    answers = [await answer_to(tab, cid) for cid in accepted]

    # The accepted ones are acknowledged in the order they were sent, each stored once; the
    # busy ones were not stored (the widget sends them again).
    assert [a["type"] for a in answers] == ["ack"] * len(accepted)
    assert [a["message"]["text"] for a in answers] == [f"Hello {n}" for n in range(len(accepted))]
    assert [a["message"]["id"] for a in answers] == sorted(a["message"]["id"] for a in answers)
    for client_id in accepted:
        assert await messages_with_client_id(client_id) == 1
    for client_id in client_ids[-2:]:
        assert await messages_with_client_id(client_id) == 0
    # Still open: a resend of a refused message is taken.
    await tab.send({"type": "message", "client_id": client_ids[-1], "text": "Hello again"})
    assert (await answer_to(tab, client_ids[-1]))["type"] == "ack"
    await tab.close()


async def test_a_message_that_waited_too_long_for_the_database_is_refused_not_stored(
    inbox, monkeypatch
):
    # The wait of an accepted message is bounded: what has not reached the database thread
    # after MAX_WAIT_SECONDS is answered busy (not stored), so what is acknowledged never
    # waited longer than that plus its own work.
    monkeypatch.setattr(pressure, "MAX_WAIT_SECONDS", 0.2)
    tab = ChatTab()
    await tab.ready(await start_session(inbox))
    hold_the_database_thread(monkeypatch, seconds=0.6)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    await tab.send({"type": "message", "client_id": first, "text": "First"})
    await tab.send({"type": "message", "client_id": second, "text": "Second"})
    answers = {cid: await answer_to(tab, cid) for cid in (first, second)}

    assert answers[first]["type"] == "ack"  # its work had started: it is stored and acked
    assert answers[second]["type"] == "busy"  # it waited 0.6 s behind the first: refused
    assert answers[second]["retry_after"] >= 1
    assert await messages_with_client_id(first) == 1
    assert await messages_with_client_id(second) == 0
    # What the widget does next: the same message again, now taken, once.
    await tab.send({"type": "message", "client_id": second, "text": "Second"})
    assert (await answer_to(tab, second))["type"] == "ack"
    assert await messages_with_client_id(second) == 1
    await tab.close()


# --- No database hop for pushes (core/sockets.py) -------------------------------------------


async def test_pushes_reach_a_widget_without_a_database_hop(inbox, monkeypatch):
    token = await start_session(inbox)
    tab = ChatTab()
    ready = await tab.ready(token)
    assert ready["type"] == "ready"
    hops = []
    original = channels.consumer.aclose_old_connections

    async def counted():
        hops.append(1)
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    customer_id = await customer_id_of(token)
    for state in (True, False, True):
        await asend_ephemeral(
            Event(
                EventType.TYPING,
                staff={},
                customer={"from": "agent", "name": "Kari", "state": state},
            ),
            Recipients(customer=frozenset({customer_group(customer_id)})),
        )
    frames = [await tab.next() for _ in range(3)]

    assert [f["state"] for f in frames] == [True, False, True]
    assert frames[0] == {"type": "typing", "from": "agent", "name": "Kari", "state": True}
    assert hops == []
    await tab.close()
