"""What accounts asks of routing, which sits above it and provides it at start-up.

An agent who becomes available is offered waiting work at once (do_set_presence). Accounts is a
bottom app (docs/adr/0005-dependency-direction.md) and never imports routing; routing provides
this hook in its AppConfig.ready. It runs synchronously after the presence change commits,
where the direct call used to be.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .models import User


class Routing(Protocol):
    def offer_waiting_work(self, agent: User, *, now: datetime | None = None) -> int: ...


_routing: Routing | None = None


def provide_routing(provider: Routing) -> None:
    global _routing
    _routing = provider


def routing() -> Routing:
    if _routing is None:
        raise ImproperlyConfigured("No app provides routing to accounts (teamline.routing).")
    return _routing
