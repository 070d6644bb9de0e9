"""The supervisors' live calls: durations a screen reader reads as words, and places in line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from teamline.conversations.models import Conversation
from teamline.conversations.supervision import watchers_of, whispers_for
from teamline.routing.eta import QueueStatus
from teamline.routing.queries import format_wait

from .scheduling_tags import wait_text

register = template.Library()


def iso_duration(seconds: int) -> str:
    """PT4M12S: the machine-readable duration of a <time> element."""
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


@register.simple_tag
def duration(seconds: int | None) -> SafeString | str:
    """<time datetime="PT4M12S">4 min 12 s</time>, or "Unknown"."""
    if seconds is None:
        return _("Unknown")
    return format_html('<time datetime="{}">{}</time>', iso_duration(seconds), format_wait(seconds))


@register.simple_tag
def place_in_line(status: QueueStatus | None) -> str:
    """'Position 2, about 4 min' from routing's queue snapshot ("" when not in line)."""
    if status is None or status.position is None:
        return ""
    where = {"position": status.position}
    if not status.serving:
        return _("Position %(position)s, nobody serves the queue now") % where
    if status.eta_seconds is None:
        return _("Position %(position)s, no wait estimate") % where
    return _("Position %(position)s, %(wait)s") % {**where, "wait": wait_text(status.eta_seconds)}


# --- Supervising chat conversations (desk/supervise_views.py) ---------------------------------


@register.simple_tag
def since(start: datetime | None, now: datetime) -> SafeString | str:
    """How long ago `start` was, as of `now` (the table's "As of" time), read as words."""
    if start is None:
        return _("Unknown")
    return duration(int((now - start).total_seconds()))


@register.filter
def watchers_in(watchers: dict[int, list[Any]], conversation_id: int) -> list[Any]:
    """The supervisors watching one conversation, from supervision.LiveConversations.watchers."""
    return watchers.get(conversation_id, [])


@register.inclusion_tag("desk/_supervision_region.html", takes_context=True)
def supervision_region(context: template.Context, conversation: Conversation) -> dict[str, Any]:
    """The agent's conversation page: who watches it, and the whispers the viewer may read
    (refreshed by desk.js on supervision.updated and whisper.created). Nothing is read for a
    conversation no supervisor ever watched or whispered in (`supervised_at`): opening a
    conversation costs the same as before supervision existed."""
    viewer = context["request"].user
    if conversation.supervised_at is None:
        return {"conversation": conversation, "watchers": [], "whispers": []}
    return {
        "conversation": conversation,
        "watchers": watchers_of([conversation.pk]).get(conversation.pk, []),
        "whispers": whispers_for(viewer, conversation),
    }
