"""The Redis pub/sub layer publishes a transaction's groups in one pipeline (core/layers.py):
every subscriber still gets its message, in order, and the fan-out of a customer's message is
one round trip to Redis instead of one per group."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio.connection import AbstractConnection

from teamline.core.layers import PipelinedRedisPubSubChannelLayer

pytestmark = pytest.mark.integration


@pytest.fixture
def layer():
    if not settings.REDIS_URL:
        pytest.skip("the integration run configures Redis (TEAMLINE_REDIS_URL)")
    found = get_channel_layer()
    assert isinstance(found, PipelinedRedisPubSubChannelLayer)
    return found


async def test_each_group_hears_its_message_in_order(layer):
    desk, widget = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("story-team", desk)
    await layer.group_add("story-customer", widget)
    staff = {"type": "event.staff", "text": "for the team"}
    customer = {"type": "event.customer", "text": "for the customer"}
    later = {"type": "event.staff", "text": "the conversation changed"}
    try:
        await layer.group_send_many(
            [("story-team", staff), ("story-customer", customer), ("story-team", later)]
        )
        assert await layer.receive(desk) == staff
        assert await layer.receive(desk) == later
        assert await layer.receive(widget) == customer
    finally:
        await layer.group_discard("story-team", desk)
        await layer.group_discard("story-customer", widget)


async def test_a_messages_four_groups_are_one_round_trip(layer, monkeypatch):
    await layer.group_send("warm-up", {"type": "noop"})  # the shard's connection exists
    sent: list[object] = []
    original = AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):
        sent.append(command)
        await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    message = {"type": "event.staff", "text": "Ingrid wrote"}
    groups = ["team.1", "admins", "user.7", "customer.42"]
    await layer.group_send_many([(group, message) for group in groups])
    assert len(sent) == 1


async def test_the_layers_replies_are_read_by_the_compiled_parser(layer):
    # hiredis (pyproject's redis[hiredis]): the pure-Python reply parser cost every pushed
    # event's receiving process about 6 % of its CPU (docs/benchmarks.md).
    await layer.group_send("warm-up", {"type": "noop"})
    shard = layer._get_layer()._get_shard(layer._get_group_channel_name("warm-up"))
    connection = shard._redis.connection_pool.make_connection()
    assert type(connection._parser).__name__ == "_AsyncHiredisParser"
