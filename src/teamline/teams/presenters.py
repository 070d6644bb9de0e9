"""What a customer sees of their team: names, photos, who is online. No usernames or ids."""

from __future__ import annotations

from typing import Any

from teamline.accounts.models import Presence

from .models import Team


def present_team_card(team: Team) -> dict[str, Any]:
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
