"""The wallboard's first rendering: the same words and clocks wallboard.js puts in the cells
when a push arrives (desk/wallboard.py, desk/wallboard_views.labels)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.dateparse import parse_datetime

from teamline.desk.wallboard import KIND_LABELS, STATE_LABELS, clock, load_text, percent
from teamline.desk.wallboard_views import labels

register = template.Library()


def _when(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        return parse_datetime(value)
    return value


@register.simple_tag
def wb_since(value: datetime | str | None, now: datetime) -> str:
    """'2:05' since `value` as of `now`; '–' for none."""
    when = _when(value)
    if when is None:
        return clock(None)
    return clock(int((now - when).total_seconds()))


@register.filter
def wb_iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


@register.filter
def wb_state(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


@register.filter
def wb_kind(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


@register.filter
def wb_load(agent: dict[str, Any]) -> str:
    return load_text(agent)


@register.simple_tag
def wb_alert(alert: dict[str, Any], now: datetime) -> str:
    """An alert's sentence, as wallboard.js words it."""
    words = labels()
    if alert.get("kind") == "surge":
        return str(words["surge"]) % {
            "waiting": alert.get("queue_length", 0),
            "longest": clock(alert.get("longest_wait_seconds")),
            "peak": alert.get("peak_queue_length", 0),
        }
    template_key = "critical" if alert.get("critical") else "outage"
    return str(words[template_key]) % {
        "title": alert.get("title", ""),
        "regions": ", ".join(alert.get("regions") or []),
    }


@register.filter
def wb_percent(fraction: float | None) -> str:
    return percent(fraction)


@register.filter
def wb_clock(seconds: float | None) -> str:
    return clock(seconds)
