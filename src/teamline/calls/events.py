"""Call events: one presenter and one recipient rule for every call change.

Staff who may see the conversation hear every change (the desk's call panel and the
supervisors' live calls); the customer's widget hears its own browser calls (state only, no
staff details). Sent after commit through core.events."""

from __future__ import annotations

from typing import Any

from teamline.conversations.events import conversation_recipients
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    customer_group,
    send_event_on_commit,
    user_group,
)

from .models import Call, CallMedium


def present_call(call: Call) -> dict[str, Any]:
    """The call as staff see it."""
    return {
        "id": call.pk,
        "conversation_id": call.conversation_id,
        "customer_id": call.customer_id,
        "medium": call.medium,
        "direction": call.direction,
        "state": call.state,
        "agent_id": call.agent_id,
        "muted": call.muted,
        "created_at": call.created_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "end_reason": call.end_reason,
        # off | recording | paused | stopped (calls/recording.py): staff only.
        "recording": call.recording_state,
        "recording_pauses": call.recording_pauses,
    }


def present_call_to_customer(call: Call) -> dict[str, Any]:
    """What the customer's widget knows of their own browser call."""
    return {
        "id": call.pk,
        "medium": call.medium,
        "state": call.state,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
    }


def emit_call(call: Call, *, also: tuple[int, ...] = ()) -> None:
    """call.updated to the conversation's staff, the call's agent and `also` (staff who just
    lost it: the agent who rejected or transferred it), and to the customer's widget for
    browser calls."""
    staff = set(conversation_recipients(call.conversation).staff)
    if call.agent_id:
        staff.add(user_group(call.agent_id))
    staff.update(user_group(user_id) for user_id in also)
    browser = call.medium in (CallMedium.AUDIO, CallMedium.VIDEO)
    send_event_on_commit(
        Event(
            EventType.CALL_UPDATED,
            staff=present_call(call),
            customer=present_call_to_customer(call) if browser else None,
        ),
        Recipients(
            staff=frozenset(staff),
            customer=frozenset({customer_group(call.customer_id)}) if browser else frozenset(),
        ),
    )
