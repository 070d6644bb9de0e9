"""The embedded mode's in-memory layer runs its expiry scan on a clock (core/layers.py)."""

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from teamline.core import layers
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
