"""A connected desk or widget learns that it may have missed pushes, and catches up.

Redis pub/sub is at-most-once: during a Redis restart the pushes published by every process are
lost while the sockets stay open. Here the in-memory layer plays Redis: its `send` and
`group_send` fail while "Redis is down". (The real restart is in
tests/integration/test_faults.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer

from teamline.conversations.models import Conversation
from teamline.conversations.replies import do_send_reply
from teamline.core import events, livewatch
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from tests.desk.support import conversation_of
from tests.desk.test_socket import connected, drain
from tests.widget.sockets import ChatTab, start_session

socket_test = pytest.mark.django_db(transaction=True)


class Outage:
    """Makes the process's channel layer fail like a Redis that is down."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        layer = get_channel_layer()
        for name in ("send", "group_send"):
            real = getattr(layer, name)
            monkeypatch.setattr(layer, name, self._flaky(real))

    def _flaky(self, real: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionError("Redis is down")
            return await real(*args, **kwargs)

        return call


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    # The in-memory layer is not watched in production (it cannot be interrupted); here it
    # stands in for Redis, with a quick watch.
    monkeypatch.setattr(livewatch, "needs_watch", lambda layer: layer is not None)
    monkeypatch.setattr(livewatch, "INTERVAL", 0.05)
    monkeypatch.setattr(livewatch, "TIMEOUT", 0.3)
    monkeypatch.setattr(events, "_missed_groups", set(), raising=False)
    yield Outage(monkeypatch)


async def interruption_noticed(timeout: float = 3) -> None:
    async with asyncio.timeout(timeout):
        while not (livewatch.current_watch() and livewatch.current_watch().interrupted):
            await asyncio.sleep(0.01)


async def frames_until(socket: Any, kind: str, timeout: float = 3) -> list[dict[str, Any]]:
    """Every frame up to and including the first of type `kind`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await socket.receive_json_from(timeout=timeout)
            seen.append(frame)
            if frame["type"] == kind:
                return seen


@socket_test
async def test_a_desk_that_missed_pushes_during_an_outage_is_told_to_resync(outage):
    oslo = await database_sync_to_async(create_team)("Oslo")
    kari = await database_sync_to_async(create_agent)("kari", team=oslo)
    desk = await connected(kari)
    await asyncio.sleep(0.2)  # the watch has seen the layer working

    outage.down = True
    customer = await database_sync_to_async(create_customer)(team=oslo, name="Astrid")
    await database_sync_to_async(conversation_of)(customer, "Is anyone there?")
    assert await desk.receive_nothing(timeout=0.5)  # the push was lost; the socket is open

    outage.down = False
    frames = await frames_until(desk, "resync")
    assert frames[-1] == {"type": "resync"}
    await desk.disconnect()


@socket_test
async def test_a_push_that_failed_is_followed_by_a_resync_to_its_groups(monkeypatch):
    monkeypatch.setattr(events, "_missed_groups", set(), raising=False)
    oslo = await database_sync_to_async(create_team)("Oslo")
    kari = await database_sync_to_async(create_agent)("kari", team=oslo)
    desk = await connected(kari)
    layer = get_channel_layer()
    real_group_send = layer.group_send
    failing = {"on": True}

    async def group_send(group: str, message: dict[str, Any]) -> None:
        if failing["on"]:
            raise ConnectionError("this process lost its Redis connection")
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    customer = await database_sync_to_async(create_customer)(team=oslo, name="Astrid")
    first = await database_sync_to_async(conversation_of)(customer, "First")
    assert await desk.receive_nothing(timeout=0.3)

    failing["on"] = False
    other = await database_sync_to_async(create_customer)(team=oslo, name="Berit")
    await database_sync_to_async(conversation_of)(other, "Second")
    frames = await frames_until(desk, "event")
    # The resync comes before the next event: the desk reads the first conversation again.
    assert frames[0] == {"type": "resync"}
    assert first.pk not in [f.get("data", {}).get("id") for f in frames]
    await drain(desk)
    await desk.disconnect()


@socket_test
async def test_a_widget_that_missed_a_reply_gets_its_thread_again(outage):
    oslo = await database_sync_to_async(create_team)("Oslo")
    inbox = await database_sync_to_async(create_inbox)(oslo)
    kari = await database_sync_to_async(create_agent)("kari", team=oslo)
    tab = ChatTab()
    await tab.ready(await start_session(inbox, name="Astrid"))
    ack = await tab.say("My data stopped working")
    assert ack["type"] == "ack"
    await asyncio.sleep(0.2)

    outage.down = True
    reply = await database_sync_to_async(_reply)(ack["message"]["conversation_id"], kari)
    await interruption_noticed()  # Redis stays down long enough for the watch to see it
    outage.down = False

    frames = await frames_until(tab.socket, "resync")
    resync = frames[-1]
    assert reply in [m["text"] for m in resync["messages"]]
    assert resync["conversation"]["id"] == ack["message"]["conversation_id"]
    await tab.close()


def _reply(conversation_id: int, agent: Any) -> str:
    conversation = Conversation.objects.get(pk=conversation_id)
    text = "Restart your phone, please."
    do_send_reply(conversation, text=text, actor=agent)
    return text


@socket_test
async def test_only_a_layer_outside_the_process_is_watched():
    oslo = await database_sync_to_async(create_team)("Oslo")
    kari = await database_sync_to_async(create_agent)("kari", team=oslo)
    desk = await connected(kari)
    watch = livewatch.current_watch()
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        # The embedded mode's layer lives in the process: it cannot be interrupted.
        assert watch is None
    else:
        assert watch is not None and len(watch.channels) == 1
    await desk.disconnect()
    assert watch is None or not watch.channels
