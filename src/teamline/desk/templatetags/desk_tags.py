"""The presence switch shown in the header of every desk page."""

from __future__ import annotations

from typing import Any

from django import template

from teamline.accounts.models import AgentProfile, Presence
from teamline.accounts.queries import profile_of

register = template.Library()

# The order agents reach for them, not the model's.
PRESENCE_CHOICES = [
    (Presence.AVAILABLE.value, "Available"),
    (Presence.BUSY.value, "Busy"),
    (Presence.AWAY.value, "Away"),
    (Presence.WRAP_UP.value, "Wrap-up"),
    (Presence.OFFLINE.value, "Offline"),
]


@register.inclusion_tag("desk/_presence_switch.html", takes_context=True)
def presence_switch(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    try:
        current = profile_of(request.user).presence
    except AgentProfile.DoesNotExist:
        current = Presence.OFFLINE.value
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "choices": PRESENCE_CHOICES,
        "current": current,
    }
