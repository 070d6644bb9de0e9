"""Fixed-window rate limits in the cache (Redis at scale, so limits hold across nodes)."""

from __future__ import annotations

import time

from django.core.cache import cache

from .errors import RateLimited


def hit(key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit on `key`; raise RateLimited once `limit` hits fall in the current window."""
    window = int(time.time() // window_seconds)
    cache_key = f"rl:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 5)
        count = 1
    if count > limit:
        raise RateLimited("Too many requests, please slow down and try again shortly.")
