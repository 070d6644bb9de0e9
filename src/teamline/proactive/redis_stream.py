"""The Redis Streams side of the event queue (proactive/stream.py says when it is used).

One stream (TEAMLINE["EVENT_STREAM_KEY"]) holds entries `{"ids": "12,13,…"}`, one per batch of
stored events; one consumer group (`proactive`) spreads the entries over the worker processes.
An entry is acknowledged (XACK) only after its evaluation committed; entries a consumer read
and did not acknowledge for STREAM_CLAIM_SECONDS (a killed worker) are claimed by another with
XAUTOCLAIM and evaluated again — rows evaluated already are skipped. The stream is trimmed to
about STREAM_MAX_LENGTH entries: it is a queue, not a store (the database is the store).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

GROUP = "proactive"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=3)


class RedisEventStream:
    def __init__(
        self,
        client: redis.Redis,
        key: str,
        evaluate: Callable[[Iterable[int]], int],
        *,
        claim_ms: int,
        max_length: int,
    ) -> None:
        self.client = client
        self.key = key
        self.evaluate = evaluate
        self.claim_ms = claim_ms
        self.max_length = max_length
        self._group_ready = False

    @classmethod
    def from_settings(cls, evaluate: Callable[[Iterable[int]], int]) -> RedisEventStream:
        config = settings.TEAMLINE
        return cls(
            _client(settings.REDIS_URL),
            config["EVENT_STREAM_KEY"],
            evaluate,
            claim_ms=int(config["STREAM_CLAIM_SECONDS"] * 1000),
            max_length=int(config["STREAM_MAX_LENGTH"]),
        )

    def ensure_group(self) -> None:
        """The consumer group, created with the stream if missing (also after a Redis restart
        lost both: the sweep publishes what was never evaluated)."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def publish(self, batches: list[list[int]]) -> None:
        self.ensure_group()
        pipe = self.client.pipeline(transaction=False)
        for ids in batches:
            if ids:
                pipe.xadd(
                    self.key,
                    {"ids": ",".join(map(str, ids))},
                    maxlen=self.max_length,
                    approximate=True,
                )
        pipe.execute()

    def consume_once(self, consumer: str, *, block_ms: int) -> int:
        """Evaluate one entry: first a stale one of a dead consumer, else a new one (waiting up
        to block_ms). Returns how many events were evaluated."""
        self.ensure_group()
        entries = self._claim_stale(consumer)
        if not entries:
            try:
                answer = self.client.xreadgroup(
                    GROUP, consumer, {self.key: ">"}, count=1, block=block_ms
                )
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted: the stream and group are gone
                    self._group_ready = False
                    return 0
                raise
            entries = list(answer[0][1]) if answer else []  # type: ignore[index]
        done = 0
        for entry_id, fields in entries:
            done += self.evaluate(_ids(fields))
            self.client.xack(self.key, GROUP, entry_id)
        return done

    def _claim_stale(self, consumer: str) -> list[Any]:
        answer = self.client.xautoclaim(
            self.key, GROUP, consumer, min_idle_time=self.claim_ms, start_id="0-0", count=1
        )
        # [next start id, [(id, fields)…], deleted ids] (Redis 7); a deleted entry has no fields.
        return [(entry_id, fields) for entry_id, fields in answer[1] if fields]

    def idle(self) -> bool:
        """Whether the group has read and acknowledged everything (nothing in flight)."""
        self.ensure_group()
        for group in self.client.xinfo_groups(self.key):
            if _text(group.get("name")) == GROUP:
                return not group.get("pending") and not group.get("lag")
        return True

    def forget_idle_consumers(self, idle_ms: int = 24 * 3600 * 1000) -> int:
        """Remove consumers that hold nothing and were not seen for a day (every worker start
        is a new consumer name; without this the group's list only grows)."""
        self.ensure_group()
        gone = 0
        for consumer in self.client.xinfo_consumers(self.key, GROUP):
            if not consumer.get("pending") and int(consumer.get("idle") or 0) > idle_ms:
                self.client.xgroup_delconsumer(self.key, GROUP, _text(consumer.get("name")))
                gone += 1
        return gone

    def pending(self) -> dict[str, int]:
        """Entries read and not acknowledged, per consumer (tests, monitoring)."""
        self.ensure_group()
        summary = self.client.xpending(self.key, GROUP)
        return {_text(row["name"]): int(row["pending"]) for row in summary.get("consumers") or []}


def _ids(fields: dict[Any, Any]) -> list[int]:
    raw = fields.get(b"ids") or fields.get("ids") or b""
    return [int(part) for part in _text(raw).split(",") if part]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
