"""Fixed-window rate limits in the cache (Redis at scale, so limits hold across nodes).

A hit is counted where the message path pays for it (every widget message counts one): on
Redis it is one round trip (INCR and, for a new window, its expiry, pipelined), not the
three a cache `add` + `incr` make (`incr` asks EXISTS first). Other caches (the local memory
of a one-process install) count through the cache API.
"""

from __future__ import annotations

import math
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from .errors import RateLimited


def hit(key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit on `key`; raise RateLimited once `limit` hits fall in the current window."""
    now = time.time()
    window = int(now // window_seconds)
    if count(f"rl:{key}:{window}", timeout=window_seconds + 5) > limit:
        raise RateLimited(
            "Too many requests, please slow down and try again shortly.",
            retry_after=math.ceil((window + 1) * window_seconds - now),
        )


def count(cache_key: str, *, timeout: int) -> int:
    """Add one to the counter `cache_key` (created with this timeout); the new count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(cache_key)
        # The backend's own client (the connection pool it keeps); a counter is stored as a
        # plain integer, as the backend's serializer stores ints, so `cache.get` reads it.
        client = cache._cache.get_client(key, write=True)
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, timeout, nx=True)
            counted, _ = pipe.execute()
        return int(counted)
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1
