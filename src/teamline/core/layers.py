"""Teamline's channel layers: the embedded mode's in-memory layer with its expiry cleanup on a
clock, and the Redis pub/sub layer that publishes a transaction's groups in one pipeline.

Channels' `InMemoryChannelLayer` scans every channel and every group membership on every
`receive` and every `group_send` (`_clean_expired`): with 10,000 idle widget sockets each open
socket's `receive` and each push walks 10,000 queues, and a profile showed half the process's CPU
there. Expiry is a safety net (a message nobody read for `expiry` seconds, a membership older
than `group_expiry`), not something that needs to happen to the microsecond, so this subclass
runs the same cleanup at most once per `CLEAN_INTERVAL_SECONDS`. A message can therefore live up
to that much longer than `expiry` before it is dropped; nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

# How often, at most, the full expiry scan runs (seconds).
CLEAN_INTERVAL_SECONDS = 1.0


class PeriodicCleanInMemoryChannelLayer(InMemoryChannelLayer):
    _next_clean = 0.0
    # Full scans done (for tests and measurement).
    scans = 0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + CLEAN_INTERVAL_SECONDS
        self.scans += 1
        super()._clean_expired()


class PipelinedRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels_redis's pub/sub layer (`group_send` one PUBLISH, one round trip, each) with
    `group_send_many`: the groups of a committed transaction's events published in one
    pipeline per Redis shard, each distinct message serialized once.

    A customer's message goes to four groups (its team, the admins, its agent, the customer):
    four serializations and four round trips, each through the shard's lock, were about a
    quarter of the server's CPU per message on PostgreSQL + Redis (docs/benchmarks.md). The
    pipeline sends the same PUBLISH commands, in the same order, so what subscribers receive
    does not change. It uses the layer's per-loop layer, shard choice, group channel names and
    shard connection (`_get_layer`, `_get_shard`, `_get_group_channel_name`, `_lock`,
    `_ensure_redis`, `_redis`): tests/core/test_layers.py fails if channels_redis changes them.
    """

    async def group_send_many(self, sends: Sequence[tuple[str, dict[str, Any]]]) -> None:
        layer = self._get_layer()
        encoded: dict[int, bytes] = {}  # by the message's identity: each one serialized once
        by_shard: dict[int, tuple[Any, list[tuple[str, bytes]]]] = {}
        for group, message in sends:
            payload = encoded.get(id(message))
            if payload is None:
                payload = encoded[id(message)] = self.serialize(message)
            channel = layer._get_group_channel_name(group)
            shard = layer._get_shard(channel)
            by_shard.setdefault(id(shard), (shard, []))[1].append((channel, payload))
        for shard, publishes in by_shard.values():
            async with shard._lock:
                shard._ensure_redis()
                async with shard._redis.pipeline(transaction=False) as pipe:
                    for channel, payload in publishes:
                        pipe.publish(channel, payload)
                    await pipe.execute()
