"""What a customer sees of their team: names, photos, who is online. No usernames or ids."""

from __future__ import annotations

from typing import Any

from teamline.accounts.models import Presence
from teamline.core.kept import KeptPerProcess

from .models import Team

# How long a process shows a team card it built without building it again. Every widget that
# opens (the session POST and the socket's `ready`) shows its team's card: 10,000 widgets
# reconnecting after a deploy read the same few cards 20,000 times (docs/benchmarks.md, "Idle
# widget sockets"). A team, a member, an agent's presence or photo saved in this process: the
# cards are forgotten at once (and again at the commit); changed in another process: this one
# shows the change within this many seconds (an "online" dot a moment late).
TEAM_CARD_SECONDS = 2.0
_cards: KeptPerProcess[int, dict[str, Any]] = KeptPerProcess()


def present_team_card(team: Team) -> dict[str, Any]:
    """The team card the widget shows, built at most once a TEAM_CARD_SECONDS per process.
    The answer is shared: callers serialise it, never change it."""
    return _cards.get(team.pk, lambda: _build_team_card(team), seconds=TEAM_CARD_SECONDS)


def _build_team_card(team: Team) -> dict[str, Any]:
    members = team.members.filter(is_active=True).select_related("agent").order_by("first_name")
    return {
        "name": team.name,
        "region": team.region,
        "photo": team.photo.url if team.photo else None,
        "members": [
            {
                "name": user.name,
                "photo": user.agent.photo.url if user.agent.photo else None,
                "online": user.agent.presence
                in (Presence.AVAILABLE, Presence.BUSY, Presence.WRAP_UP),
            }
            for user in members
            if hasattr(user, "agent")
        ],
    }


# Drop every kept card: the next widget of each team builds it again.
forget_team_cards = _cards.forget
# A save or delete of a row a card shows (connected in apps.py): forgotten now, and again once
# the change is committed, so a card built meanwhile from the old rows is not kept.
team_card_changed = _cards.source_changed
