"""One-time codes: how a customer proves, right now, that they hold one of their verified
identities (an email address or a phone number). Community sign-in uses them; customer step-up
will use the same codes with another `purpose`.

A code is six digits, lives CODE_TTL, is used once, and allows MAX_ATTEMPTS wrong guesses.
Only an HMAC of it is stored (keyed with SECRET_KEY and bound to the purpose and the address),
so a copy of the database gives nobody a code. The plain code exists only in the request that
issues it, on its way to the connector; it is never logged and never stored in a message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
# Codes sent to one address per hour, whoever asks: an address cannot be flooded.
SENDS_PER_ADDRESS_PER_HOUR = 5

SIGN_IN = "sign-in"
PURPOSES = (SIGN_IN, "step-up")


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(purpose: str, kind: str, value: str, code: str) -> str:
    message = "\x1f".join((purpose, kind, value, code)).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def typed_code(text: str) -> str:
    """The digits of what a person typed ("123 456", "123-456"), or "" when it cannot be a
    code."""
    digits = "".join(ch for ch in (text or "")[:32] if ch not in " -\t")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return ""
    return digits


def address_key(kind: str, value: str) -> str:
    """A rate-limit key for an address that does not put the address itself in the cache."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]
