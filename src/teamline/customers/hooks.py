"""What customers tells the apps above it, after commit.

Customers sits below proactive (docs/adr/0005-dependency-direction.md) and never imports it.
When an identity (phone, email, external id, …) is created or becomes verified, events that
named it before the customer was known can be attached to the customer: proactive subscribes
with `on_identity_known` in its AppConfig.ready. Listeners run after the transaction that
stored the identity commits (never for a rolled-back one), each in its own try: a listener that
fails is logged and does not undo the identity. Whatever a listener must not lose is kept in the
database by its app (proactive's waiting events stay waiting and are matched again by its
periodic sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownIdentity:
    """An identity that now belongs to a customer (kind, normalised value)."""

    customer_id: int
    kind: str
    value: str
    verified: bool


IdentityListener = Callable[[KnownIdentity], None]

_listeners: dict[str, IdentityListener] = {}


def on_identity_known(name: str, listener: IdentityListener) -> None:
    """Call `listener` after commit for every identity created or verified. Registering a name
    again replaces its listener (a re-run ready() stays harmless)."""
    _listeners[name] = listener


def identity_known_on_commit(customer_id: int, kind: str, value: str, *, verified: bool) -> None:
    """Announce an identity once the caller's transaction commits (called by customers'
    actions only)."""
    if not _listeners:
        return
    known = KnownIdentity(customer_id, kind, value, verified)
    transaction.on_commit(lambda: _announce(known))


def _announce(known: KnownIdentity) -> None:
    for name, listener in list(_listeners.items()):
        try:
            listener(known)
        except Exception:
            logger.exception("identity listener %s failed for %s", name, known.kind)
