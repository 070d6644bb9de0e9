"""The presence switch shown in the header of every desk page."""

from __future__ import annotations

from typing import Any

from django import template

from teamline.accounts import sessions
from teamline.accounts.models import AgentProfile, Presence
from teamline.accounts.queries import profile_of
from teamline.conversations.attachments import is_inline_safe
from teamline.customers.masking import shown

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
    expert_available = False
    try:
        profile = profile_of(request.user)
        current, expert_available = profile.presence, profile.expert_available
    except AgentProfile.DoesNotExist:
        current = Presence.OFFLINE.value
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "choices": PRESENCE_CHOICES,
        "current": current,
        # The "Available for expert requests" switch rendered next to it (same profile read).
        "expert_available": expert_available,
    }


CHANNEL_NAMES = {
    "webchat": "web chat",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "wechat": "WeChat",
    "email": "email",
    "app": "the app",
    "voice": "phone",
}


@register.filter
def call_clock(seconds: int) -> str:
    """0:07, 12:30, 1:02:03 — a call's time as a clock shows it."""
    seconds = max(0, int(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def channel_label(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


@register.simple_tag
def delivery_sentence(message: Any) -> str:
    """What the agent needs to know about an outbound message's delivery, as one sentence."""
    status = message.delivery_status
    segments = f" ({message.segments} SMS segments)" if (message.segments or 0) > 1 else ""
    if status == "queued":
        if message.delivery_error:
            return f"Not sent yet: {message.delivery_error.removeprefix('Retrying: ')}. Retrying."
        return "Queued for delivery."
    if status == "failed":
        return f"Delivery failed: {message.delivery_error or 'no reason given'}."
    return {
        "sent": f"Sent{segments}.",
        "delivered": f"Delivered{segments}.",
        "read": "Read.",
    }.get(status, f"{message.get_delivery_status_display()}.")


@register.filter
def inline_safe(attachment: Any) -> bool:
    return is_inline_safe(attachment)


@register.simple_tag
def idle_timeout_seconds() -> int:
    """The staff idle timeout, for the desk's warning a minute before (desk/idle.js)."""
    return sessions.idle_timeout_seconds()


@register.simple_tag(takes_context=True)
def masked(context: dict[str, Any], kind: str, value: Any) -> str:
    """`value` as the signed-in staff member may see it: a remote agent's phone numbers,
    emails and addresses masked (customers/masking.py), anyone else's as they are. `kind` is
    phone, email, address or name."""
    request = context.get("request")
    return shown(getattr(request, "user", None), kind, str(value or ""))
