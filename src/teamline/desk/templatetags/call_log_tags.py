"""Calls on the conversation page: the call log (every call's states and its recording — who
paused and resumed it, when) and the recording's pause control.

Tags rather than view context so the conversation page and the call panel show them the same
way without touching the views other features own.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from teamline.calls.models import Call, RecordingState
from teamline.calls.queries import call_log, live_call_of
from teamline.calls.recording import may_control_recording
from teamline.conversations.models import Conversation, TimelineEvent

register = template.Library()

MEDIA = {
    "phone": gettext_lazy("Phone call"),
    "audio": gettext_lazy("Browser call"),
    "video": gettext_lazy("Video call"),
}
SENTENCES = {
    "waiting": gettext_lazy("{medium} came in"),
    "accepted": gettext_lazy("Accepted by {actor}"),
    "connected": gettext_lazy("Connected"),
    "held": gettext_lazy("Put on hold by {actor}"),
    "resumed": gettext_lazy("Taken off hold by {actor}"),
    "muted": gettext_lazy("Microphone muted by {actor}"),
    "unmuted": gettext_lazy("Microphone unmuted by {actor}"),
    "ended": gettext_lazy("Ended: {reason}"),
    "recording_started": gettext_lazy("Recording started"),
    "recording_failed": gettext_lazy("Not recorded: {reason}"),
    "recording_paused": gettext_lazy("Recording paused by {actor}"),
    "recording_resumed": gettext_lazy("Recording resumed by {actor}"),
    "recording_completed": gettext_lazy("Recording finished ({duration})"),
    "recording_absent": gettext_lazy("Recording has no audio: {reason}"),
    "recording_stored": gettext_lazy("Recording kept as an internal attachment"),
    "recording_fetch_failed": gettext_lazy("Recording not kept: {reason}"),
    "recording_deleted_at_provider": gettext_lazy("Recording deleted at the voice provider"),
    "recording_delete_failed": gettext_lazy(
        "Recording not deleted at the voice provider: {reason}"
    ),
}


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int):
        return _("length unknown")
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}:{secs:02d}"


def call_event_sentence(row: TimelineEvent) -> str:
    """What a call row of the timeline says, for people."""
    data = row.data or {}
    event = str(data.get("event") or "")
    pattern = str(SENTENCES.get(event, event.replace("_", " ").capitalize() or _("Call event")))
    return pattern.format(
        medium=str(MEDIA.get(str(data.get("medium") or ""), _("Call"))),
        actor=row.actor.name if row.actor else "Teamline",
        reason=str(data.get("reason") or _("no reason given")),
        duration=_duration(data.get("duration_seconds")),
    )


def recording_control_context(call: Call) -> dict[str, Any]:
    return {
        "call": call,
        "shown": call.is_live
        and call.recording_state in (RecordingState.RECORDING, RecordingState.PAUSED),
        "paused": call.recording_state == RecordingState.PAUSED,
    }


@register.inclusion_tag("desk/_call_log.html", takes_context=True)
def call_log_of(context: dict[str, Any], conversation: Conversation) -> dict[str, Any]:
    """The conversation's call log, and the recording control of its live call."""
    rows = list(call_log(conversation))
    live = live_call_of(conversation) if rows else None
    user = context.get("user")
    # The toggle only for whoever may use it: a supervisor of the team (the agent on the call
    # has it in the call panel, so it is never twice on one page).
    controls = (
        live is not None
        and user is not None
        and live.agent_id != user.pk
        and may_control_recording(live, user)
    )
    return {
        "rows": [(row, call_event_sentence(row)) for row in rows],
        "live_call": live,
        "recording": recording_control_context(live) if controls and live else None,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("desk/_call_recording.html", takes_context=True)
def recording_control(context: dict[str, Any], call: Call) -> dict[str, Any]:
    """The "Pause recording" / "Resume recording" toggle of a recorded live call."""
    return {**recording_control_context(call), "csrf_token": context.get("csrf_token")}
