"""Rate limits count the same on the local cache and on Redis, one round trip a hit on Redis."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.connection import AbstractConnection

from teamline.core import ratelimit
from teamline.core.errors import RateLimited

# Counted on the local cache in the SQLite run and on Redis in the integration run.
pytestmark = pytest.mark.integration


def _fresh_key(name: str) -> str:
    caches["default"].clear()
    return f"story:{name}"


def test_a_limit_lets_its_hits_through_and_refuses_the_next() -> None:
    key = _fresh_key("three-a-minute")
    for _ in range(3):
        ratelimit.hit(key, limit=3, window_seconds=60)
    with pytest.raises(RateLimited):
        ratelimit.hit(key, limit=3, window_seconds=60)


def test_separate_keys_are_counted_apart() -> None:
    key = _fresh_key("one-each")
    ratelimit.hit(key + ":a", limit=1, window_seconds=60)
    ratelimit.hit(key + ":b", limit=1, window_seconds=60)
    with pytest.raises(RateLimited):
        ratelimit.hit(key + ":a", limit=1, window_seconds=60)


def test_the_counter_is_readable_through_the_cache_and_expires_with_its_window() -> None:
    _fresh_key("readable")
    assert ratelimit.count("rl:story:readable", timeout=65) == 1
    assert ratelimit.count("rl:story:readable", timeout=65) == 2
    cache = caches["default"]
    assert cache.get("rl:story:readable") == 2
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key("rl:story:readable")
        client = cache._cache.get_client(key)
        assert 0 < client.ttl(key) <= 65  # set once, on the window's first hit


def test_on_redis_a_hit_is_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        pytest.skip("the integration run configures Redis (TEAMLINE_REDIS_URL)")
    _fresh_key("round-trips")
    sent: list[object] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    ratelimit.hit("story:round-trips", limit=5, window_seconds=60)
    assert len(sent) == 1  # INCR and EXPIRE ... NX, pipelined
