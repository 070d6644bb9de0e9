"""Sign-in throttling: slow password guessing down without handing attackers a lock-out button.

Three counters of failed sign-ins, each in a fixed window in the cache (Redis at scale, so they
hold across nodes):

- per account *and* address: a few failures, then this address must wait before trying this
  account again — the common case of someone guessing from one machine;
- per address: many failures across accounts (credential stuffing from one address);
- per account from unknown browsers: guessing one agent's password from many addresses.

The last one is what could let an attacker lock an agent out, so it does not apply to a browser
that already signed in to that account successfully: a successful sign-in leaves a signed
"known device" cookie naming the account, and that browser is only held to the per-address
counters. While a counter is over its limit the password is not even checked, so the right
password after thirty wrong ones does not sign in either.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from hashlib import sha256

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from teamline.core import ratelimit

logger = logging.getLogger("teamline.security")

DEVICE_COOKIE = "teamline_device"
_DEVICE_SALT = "teamline.accounts.known-device"
_DEVICE_MAX_AGE = 180 * 24 * 3600
_DEVICE_ACCOUNTS = 8  # a shared desk PC remembers this many accounts


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the counter that blocks resets


def _limits() -> dict[str, int]:
    conf = settings.TEAMLINE
    return {
        "pair": int(conf["LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS"]),
        "address": int(conf["LOGIN_FAILURES_PER_ADDRESS"]),
        "account": int(conf["LOGIN_FAILURES_PER_ACCOUNT"]),
        "window": int(conf["LOGIN_THROTTLE_WINDOW_SECONDS"]),
    }


def _account(username: str) -> str:
    # Hashed: usernames are personal data and keys end up in Redis' keyspace listings.
    return sha256(username.strip().casefold().encode()).hexdigest()[:32]


def _keys(username: str, address: str, window: int) -> dict[str, str]:
    slot = int(time.time() // window)
    account = _account(username)
    return {
        "pair": f"login-fail:pair:{account}:{address}:{slot}",
        "address": f"login-fail:addr:{address}:{slot}",
        "account": f"login-fail:acct:{account}:{slot}",
    }


def client_address(request: HttpRequest) -> str:
    """The peer address as the ASGI server reports it (uvicorn rewrites it from
    X-Forwarded-For only for proxies it is told to trust)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def check(username: str, address: str, *, known_device: bool) -> Verdict:
    """May this address try this account's password now?"""
    limits = _limits()
    window = limits["window"]
    keys = _keys(username, address, window)
    counted = ["pair", "address"] if known_device else ["pair", "address", "account"]
    values = cache.get_many([keys[name] for name in counted])
    for name in counted:
        if int(values.get(keys[name], 0)) >= limits[name]:
            retry_after = max(1, math.ceil(window - time.time() % window))
            return Verdict(False, retry_after)
    return Verdict(True)


def record_failure(username: str, address: str) -> None:
    limits = _limits()
    window = limits["window"]
    for key in _keys(username, address, window).values():
        ratelimit.count(key, timeout=window + 5)
    logger.warning("failed sign-in for account %s from %s", _account(username), address)


def record_success(username: str, address: str) -> None:
    """A right password from this address clears its per-account count (not the others:
    guessing other accounts from the same address stays counted)."""
    keys = _keys(username, address, _limits()["window"])
    cache.delete(keys["pair"])


def _device_accounts(request: HttpRequest) -> list[str]:
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        value = signing.loads(raw, salt=_DEVICE_SALT, max_age=_DEVICE_MAX_AGE)
    except signing.BadSignature:
        return []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def is_known_device(request: HttpRequest, username: str) -> bool:
    return _account(username) in _device_accounts(request)


def remember_device(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """Mark this browser as one that signed in to `username` (a signed, HTTP-only cookie)."""
    account = _account(username)
    accounts = [account, *(a for a in _device_accounts(request) if a != account)]
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps(accounts[:_DEVICE_ACCOUNTS], salt=_DEVICE_SALT),
        max_age=_DEVICE_MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )
