"""The presence switch shown in the header of every desk page, and the desk's small filters
(channel names, delivery sentences, dates and times in the agent's language)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import nh3
from babel.dates import format_skeleton, format_time
from django import template
from django.utils import dateformat, timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from teamline.accounts import sessions
from teamline.accounts.models import AgentProfile, Presence
from teamline.accounts.queries import profile_of
from teamline.connectors.email_parts.parsing import SAFE_ATTRIBUTES, SAFE_TAGS
from teamline.conversations.attachments import is_inline_safe
from teamline.customers.masking import masks_for, shown

register = template.Library()

# The order agents reach for them, not the model's.
PRESENCE_CHOICES = [
    (Presence.AVAILABLE.value, gettext_lazy("Available")),
    (Presence.BUSY.value, gettext_lazy("Busy")),
    (Presence.AWAY.value, gettext_lazy("Away")),
    (Presence.WRAP_UP.value, gettext_lazy("Wrap-up")),
    (Presence.OFFLINE.value, gettext_lazy("Offline")),
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
    "webchat": gettext_lazy("web chat"),
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "wechat": "WeChat",
    "email": gettext_lazy("email"),
    "app": gettext_lazy("the app"),
    "voice": gettext_lazy("phone"),
}


# A symbol for each channel beside its name in the conversation list: decoration only (the
# row says the channel's name in words; the symbol is hidden from screen readers).
CHANNEL_ICONS = {
    "webchat": "\U0001f4ac",
    "sms": "\U0001f4f1",
    "whatsapp": "\U0001f7e2",
    "messenger": "\U0001f5e8",
    "instagram": "\U0001f4f7",
    "telegram": "\u2708",
    "wechat": "\U0001f7e9",
    "email": "\u2709",
    "app": "\U0001f4f2",
    "voice": "\U0001f4de",
}


@register.filter
def channel_icon(channel: str) -> str:
    return CHANNEL_ICONS.get(channel, "\u25cf")


@register.filter
def call_clock(seconds: int) -> str:
    """0:07, 12:30, 1:02:03 — a call's time as a clock shows it."""
    seconds = max(0, int(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def channel_label(channel: str) -> str:
    return str(CHANNEL_NAMES.get(channel, channel))


@register.simple_tag
def delivery_sentence(message: Any) -> str:
    """What the agent needs to know about an outbound message's delivery, as one sentence."""
    status = message.delivery_status
    segments = message.segments or 0
    if status == "queued":
        if message.delivery_error:
            return _("Not sent yet: %(error)s. Retrying.") % {
                "error": message.delivery_error.removeprefix("Retrying: ")
            }
        return _("Queued for delivery.")
    if status == "failed":
        return _("Delivery failed: %(error)s.") % {
            "error": message.delivery_error or _("no reason given")
        }
    if status == "sent":
        return _("Sent (%(n)s SMS segments).") % {"n": segments} if segments > 1 else _("Sent.")
    if status == "delivered":
        if segments > 1:
            return _("Delivered (%(n)s SMS segments).") % {"n": segments}
        return _("Delivered.")
    if status == "read":
        return _("Read.")
    return f"{message.get_delivery_status_display()}."


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


# An email's formatting as the desk shows it: the tags the email connector keeps, minus the
# headings (the page's own heading outline stays the agent's map). No images at all: a remote
# image is a tracking pixel, and nothing is loaded from outside Teamline by default.
EMAIL_TAGS = SAFE_TAGS - {"h1", "h2", "h3", "h4", "h5", "h6"}


@register.simple_tag(takes_context=True)
def email_html(context: dict[str, Any], message: Any) -> str:
    """An inbound email's HTML body, sanitised again (nh3) as it is rendered, whatever was
    stored; "" when there is none or the viewer is a remote agent (their view masks the
    customer's addresses and numbers in the text, which HTML would bypass)."""
    content = message.content if isinstance(message.content, dict) else {}
    html = content.get("html")
    request = context.get("request")
    if not isinstance(html, str) or not html.strip():
        return ""
    if masks_for(getattr(request, "user", None)):
        return ""
    cleaned = nh3.clean(
        html,
        tags=EMAIL_TAGS,
        attributes=SAFE_ATTRIBUTES,
        clean_content_tags={"script", "style", "title", "head", "template", "noscript", "iframe"},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above


# --- The agent's language -------------------------------------------------------------------
#
# English keeps the desk's compact formats ("5 Dec 14:05"); the other languages get their own
# order, month names and punctuation from CLDR (Babel): "5. des. 14:05", "12月5日 14:05". desk.js
# formats the times it patches in place the same way (Intl.DateTimeFormat, the same CLDR data).
# Times are in settings.TIME_ZONE, like the rest of the desk.


def _babel_locale() -> str:
    return translation.to_locale(translation.get_language() or "en")


@register.filter
def lang_tag(code: str) -> str:
    """A Django language code as a BCP 47 tag for `lang` attributes: zh-hant → zh-Hant."""
    return translation.to_locale(code or "en").replace("_", "-")


@register.filter
def desk_datetime(value: datetime | None, style: str = "short") -> str:
    """A moment for the agent: `short` day, month and time (the inbox, messages' times within
    the year), `date` day, month and year, `full` date and time, `time` hours and minutes."""
    if value is None:
        return ""
    moment = timezone.localtime(value) if timezone.is_aware(value) else value
    language = translation.get_language() or "en"
    if language == "en" or language.startswith("en-"):
        pattern = {"date": "j M Y", "full": "j M Y, H:i", "time": "H:i"}.get(style, "j M H:i")
        return str(dateformat.format(moment, pattern))
    locale = _babel_locale()
    time = format_time(moment, "HH:mm", locale=locale)
    if style == "time":
        return time
    if style == "date":
        return format_skeleton("yMMMd", moment, locale=locale)
    if style == "full":
        return f"{format_skeleton('yMMMd', moment, locale=locale)} {time}"
    return f"{format_skeleton('MMMd', moment, locale=locale)} {time}"


# The models' choice labels as the desk says them (the API keeps the models' English labels).
STATUS_LABELS = {
    "open": gettext_lazy("Open"),
    "pending": gettext_lazy("Pending"),
    "snoozed": gettext_lazy("Snoozed"),
    "resolved": gettext_lazy("Resolved"),
}
PRIORITY_LABELS = {
    -1: gettext_lazy("Low"),
    0: gettext_lazy("Normal"),
    1: gettext_lazy("High"),
    2: gettext_lazy("Urgent"),
}
SENDER_LABELS = {
    "customer": gettext_lazy("Customer"),
    "agent": gettext_lazy("Agent"),
    "bot": gettext_lazy("Bot"),
    "system": gettext_lazy("System"),
}
ROLE_LABELS = {"expert": gettext_lazy("expert")}


@register.filter
def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


@register.filter
def priority_label(priority: int) -> str:
    return str(PRIORITY_LABELS.get(priority, priority))


@register.filter
def sender_label(kind: str) -> str:
    return str(SENDER_LABELS.get(kind, kind))


@register.filter
def participant_role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))
