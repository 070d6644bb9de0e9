"""The push side of the message path: the embedded layer's expiry scan on a clock
(core/layers.py), and pushes that leave after commit without holding the database thread
(core/events.py)."""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from teamline.core import layers
from teamline.core.events import Event, EventType, Recipients, send_event_on_commit, team_group
from teamline.core.layers import PeriodicCleanInMemoryChannelLayer


async def test_many_pushes_to_many_idle_sockets_scan_for_expiry_once_per_interval(monkeypatch):
    # An interval no run of this test outlasts, so the count does not depend on machine speed.
    monkeypatch.setattr(layers, "CLEAN_INTERVAL_SECONDS", 3600.0)
    layer = PeriodicCleanInMemoryChannelLayer(capacity=100)
    idle = [await layer.new_channel() for _ in range(200)]
    for channel in idle:
        await layer.group_add("customer.1", channel)

    for _ in range(50):
        await layer.group_send("customer.1", {"type": "event.customer", "text": "{}"})

    # Channels' own layer would have walked all 200 queues 50 times.
    assert layer.scans == 1


async def test_an_expired_message_still_drops_its_channel_from_its_groups():
    layer = PeriodicCleanInMemoryChannelLayer(expiry=60)
    gone, alive = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("team.1", gone)
    await layer.group_add("team.1", alive)
    layer.expiry = -1  # this message is already past its expiry when it is queued
    await layer.send(gone, {"type": "event.staff", "text": "{}"})
    layer.expiry = 60
    layer._next_clean = 0.0  # the next scan is due

    await layer.group_send("team.1", {"type": "event.staff", "text": "{}"})

    assert set(layer.groups["team.1"]) == {alive}
    assert await asyncio.wait_for(layer.receive(alive), 1) == {"type": "event.staff", "text": "{}"}


async def test_the_embedded_mode_uses_the_periodic_layer():
    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        pytest.skip("PostgreSQL + Redis: the Redis layer")
    assert isinstance(layer, PeriodicCleanInMemoryChannelLayer)


@pytest.mark.django_db(transaction=True)
async def test_the_database_thread_does_not_wait_for_the_push_after_commit(monkeypatch):
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(team_group(7), listener)
    original = layer.group_send
    slow = 0.5

    async def slow_group_send(group, message):
        await asyncio.sleep(slow)  # a slow channel layer (Redis far away, or busy)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)

    def commit_a_change():
        with transaction.atomic():
            send_event_on_commit(
                Event(EventType.PRESENCE_CHANGED, staff={"user": 1, "presence": "online"}),
                Recipients(staff=frozenset({team_group(7)})),
            )

    started = time.monotonic()
    await database_sync_to_async(commit_a_change)()
    returned_after = time.monotonic() - started
    pushed = await asyncio.wait_for(layer.receive(listener), 5)

    # The database thread was free again before the push went out; the push still arrived.
    assert returned_after < slow
    assert json.loads(pushed["text"])["data"] == {"user": 1, "presence": "online"}
    await layer.group_discard(team_group(7), listener)
