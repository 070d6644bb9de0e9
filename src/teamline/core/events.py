"""The one way Teamline pushes live updates: typed events sent after commit.

Actions call `send_event_on_commit(event, recipients)`. Nothing is sent if the transaction rolls
back, and nothing lives only in the channel layer: a push is a notification, clients resync from
the database on (re)connect. Redis/Channels delivery is at-most-once.

A push that could not be sent is not silently forgotten: its groups are remembered and, with
the next push this process makes, sent `{"type": "live.resync"}` so their sockets catch up from
the database (the receiving side of the same promise is `core/livewatch.py`).

Recipients are channel-layer groups split by audience. Staff groups get `event.staff`, customer
groups get `event.customer` (a customer-safe presentation, absent for internal events). The
recipient function of each event family lives next to its presenter and is tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


class EventType(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    ASSIGNMENT_CHANGED = "assignment.changed"
    PRESENCE_CHANGED = "presence.changed"
    TYPING = "typing"
    # A team's queue passed (or fell back under) its surge thresholds: supervisors' alert.
    ROUTING_SURGE = "routing.surge"
    # An agent asked a staff member to join a conversation as an expert (to that person).
    EXPERT_INVITED = "expert.invited"
    # A waiting customer's place in line or estimated wait changed (routing/eta.py).
    QUEUE_UPDATED = "queue.updated"
    # A call changed state (rings, accepted, connected, held, muted, ended): calls/events.py.
    CALL_UPDATED = "call.updated"
    # A browser call's WebRTC signalling (offer, answer, ICE, bye) between its customer and its
    # agent: sent only with asend_ephemeral, never stored (calls/browser.py).
    CALL_SIGNAL = "call.signal"
    # A proactive rule asked for the customer's team's supervisors' attention (proactive/engine.py).
    PROACTIVE_ALERT = "proactive.alert"
    # A conversation's customer step-up changed: asked, verified, wrong code, failed, expired
    # (conversations/stepup.py). Never carries a code.
    VERIFICATION_UPDATED = "verification.updated"
    # An outage was declared or ended (proactive/outages.py): the desks of its regions' teams.
    OUTAGE_UPDATED = "outage.updated"
    # A region's or site's signals rose above its baseline: supervisors confirm or dismiss it
    # (proactive/detection.py).
    OUTAGE_SUSPECTED = "outage.suspected"


@dataclass(frozen=True)
class Event:
    type: EventType
    staff: dict[str, Any]
    # What a customer may see of this event; None for staff-only events (notes, presence…).
    customer: dict[str, Any] | None = None


@dataclass(frozen=True)
class Recipients:
    staff: frozenset[str] = field(default_factory=frozenset)
    customer: frozenset[str] = field(default_factory=frozenset)


# --- Group names: the only place they are spelled -----------------------------------------


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def admins_group() -> str:
    return "admins"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def conversation_group(conversation_id: int) -> str:
    """Staff currently viewing one conversation (typing indicators)."""
    return f"conversation.{conversation_id}"


def customer_group(customer_id: int) -> str:
    return f"customer.{customer_id}"


# --- Emitter ------------------------------------------------------------------------------

_captured: list[list[tuple[Event, Recipients]]] = []


def send_event_on_commit(event: Event, recipients: Recipients) -> None:
    """Queue `event` for `recipients`; it is sent only if and when the transaction commits."""
    send_events_on_commit([(event, recipients)])


def send_events_on_commit(pairs: list[tuple[Event, Recipients]]) -> None:
    """Queue many events at once (batch routing): sent after commit in one pass over the
    channel layer instead of one round trip per event."""
    for event, recipients in pairs:
        if event.customer is None and recipients.customer:
            raise ValueError(f"{event.type} has no customer presentation but customer recipients")
    if pairs:
        transaction.on_commit(lambda: _send(list(pairs)))


def _send(pairs: list[tuple[Event, Recipients]]) -> None:
    for sink in _captured:
        sink.extend(pairs)
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - channels always configured
        return
    async_to_sync(_push)(layer, pairs)


# Groups a push could not reach; they are asked to resync with the next push that works.
_missed_groups: set[str] = set()


async def _push(layer: Any, pairs: list[tuple[Event, Recipients]]) -> None:
    await _resync_missed(layer)
    for event, recipients in pairs:
        try:
            await _push_one(layer, event, recipients)
        except Exception:
            # At-most-once by design: the change is committed; the groups that may have
            # missed it are asked to resync from the database once the layer works again.
            logger.exception("could not push %s", event.type)
            _missed_groups.update(recipients.staff)
            if event.customer is not None:
                _missed_groups.update(recipients.customer)


async def _resync_missed(layer: Any) -> None:
    for group in sorted(_missed_groups):
        try:
            await layer.group_send(group, {"type": "live.resync"})
        except Exception:
            return  # still down: the next push tries again
        _missed_groups.discard(group)


async def _push_one(layer: Any, event: Event, recipients: Recipients) -> None:
    # A failure stops this event's fan-out: every group of it counts as missed (see _push).
    for group in sorted(recipients.staff):
        await layer.group_send(
            group, {"type": "event.staff", "event": event.type.value, "data": event.staff}
        )
    if event.customer is not None:
        for group in sorted(recipients.customer):
            await layer.group_send(
                group, {"type": "event.customer", "event": event.type.value, "data": event.customer}
            )


async def asend_ephemeral(event: Event, recipients: Recipients) -> None:
    """Send now, outside any transaction: for state that is never stored (typing indicators)."""
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover
        return
    await _push_one(layer, event, recipients)
