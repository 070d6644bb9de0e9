"""Web chat connector: session tokens and verified identities for the widget.

A widget session token is a Django-signed {inbox, customer} pair kept in the browser's local
storage, so a visitor finds their thread again on the same device. A host site that knows its
user passes `user_id` plus `user_hash` = hex HMAC-SHA256(inbox secret, user_id); only then does
the widget attach to an existing customer.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.core import signing

from teamline.core.errors import NotFound

CHANNEL = "webchat"
SESSION_SALT = "teamline.webchat.session"
# A device keeps its thread for a year of inactivity; the token is re-issued on every visit.
SESSION_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class SessionClaims:
    inbox_public_id: str
    customer_id: int


def sign_session(inbox_public_id: str, customer_id: int) -> str:
    return signing.dumps({"i": str(inbox_public_id), "c": customer_id}, salt=SESSION_SALT)


def read_session(token: str) -> SessionClaims:
    try:
        data = signing.loads(token, salt=SESSION_SALT, max_age=SESSION_MAX_AGE)
        return SessionClaims(inbox_public_id=str(data["i"]), customer_id=int(data["c"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise NotFound("Unknown or expired chat session.") from exc


def identity_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_identity(secret: str, user_id: str, user_hash: str) -> bool:
    if not secret or not user_id or not user_hash:
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a
    # server error, for a hash like "é"); such a hash simply does not match.
    given = user_hash.lower().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(identity_hash(secret, user_id).encode(), given)


def client_external_id(customer_id: int, client_id: str) -> str:
    """Web chat client ids are chosen by the browser; namespacing them by customer keeps one
    visitor from colliding with (or blocking) another's messages."""
    return f"{customer_id}:{client_id}"
