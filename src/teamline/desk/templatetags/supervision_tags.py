"""The supervisors' live calls: durations a screen reader reads as words, and places in line."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
        return "Unknown"
    return format_html('<time datetime="{}">{}</time>', iso_duration(seconds), format_wait(seconds))


@register.simple_tag
def place_in_line(status: QueueStatus | None) -> str:
    """'Position 2, about 4 min' from routing's queue snapshot ("" when not in line)."""
    if status is None or status.position is None:
        return ""
    where = f"Position {status.position}"
    if not status.serving:
        return f"{where}, nobody serves the queue now"
    if status.eta_seconds is None:
        return f"{where}, no wait estimate"
    return f"{where}, {wait_text(status.eta_seconds)}"
