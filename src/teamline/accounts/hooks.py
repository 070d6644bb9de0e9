"""What accounts asks of the apps above it, which provide it at start-up.

Accounts is a bottom app (docs/adr/0005-dependency-direction.md) and imports neither teams nor
routing. A presence change is announced to the agent's teams (teams provides who they are), and
an agent who becomes available is offered waiting work at once (routing provides the offer).
Both hooks are provided in those apps' AppConfig.ready and run synchronously where the direct
calls used to be: team ids inside do_set_presence's transaction, the offer after it commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .models import User


class Routing(Protocol):
    def offer_waiting_work(self, agent: User, *, now: datetime | None = None) -> int: ...


class Teams(Protocol):
    def membership_team_ids(self, user: User) -> list[int]: ...


_routing: Routing | None = None
_teams: Teams | None = None


def provide_routing(provider: Routing) -> None:
    global _routing
    _routing = provider


def routing() -> Routing:
    if _routing is None:
        raise ImproperlyConfigured("No app provides routing to accounts (teamline.routing).")
    return _routing


def provide_teams(provider: Teams) -> None:
    global _teams
    _teams = provider


def teams() -> Teams:
    if _teams is None:
        raise ImproperlyConfigured("No app provides teams to accounts (teamline.teams).")
    return _teams
