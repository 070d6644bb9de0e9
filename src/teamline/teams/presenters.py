"""What a customer sees of their team: names, photos, who is online. No usernames or ids."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction

from teamline.accounts.models import Presence

from .models import Team

# How long a process shows a team card it built without building it again. Every widget that
# opens (the session POST and the socket's `ready`) shows its team's card: 10,000 widgets
# reconnecting after a deploy read the same few cards 20,000 times (docs/benchmarks.md, "Idle
# widget sockets"). A team, a member, an agent's presence or photo saved in this process: the
# cards are forgotten at once (and again at the commit); changed in another process: this one
# shows the change within this many seconds (an "online" dot a moment late).
TEAM_CARD_SECONDS = 2.0
_cards: dict[int, tuple[dict[str, Any], float]] = {}
_generation = 0  # bumped on every forget: a card built from rows read before it is not kept


def present_team_card(team: Team) -> dict[str, Any]:
    """The team card the widget shows, built at most once a TEAM_CARD_SECONDS per process.
    The answer is shared: callers serialise it, never change it."""
    now = time.monotonic()
    kept = _cards.get(team.pk)
    if kept is not None and now - kept[1] < TEAM_CARD_SECONDS:
        return kept[0]
    generation = _generation
    card = _build_team_card(team)
    if generation == _generation:
        _cards[team.pk] = (card, now)
    return card


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


def forget_team_cards() -> None:
    """Drop every kept card: the next widget of each team builds it again."""
    global _generation
    _generation += 1
    _cards.clear()


def team_card_changed(**kwargs: Any) -> None:
    """A save or delete of a row a card shows (connected in apps.py): forgotten now, and again
    once the change is committed, so a card built meanwhile from the old rows is not kept."""
    forget_team_cards()
    transaction.on_commit(forget_team_cards, using=kwargs.get("using"))
