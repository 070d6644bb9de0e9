"""The one way Teamline pushes live updates: typed events sent after commit.

Actions call `send_event_on_commit(event, recipients)`. Nothing is sent if the transaction rolls
back, and nothing lives only in the channel layer: a push is a notification, clients resync from
the database on (re)connect. Redis/Channels delivery is at-most-once.

A push that could not be sent is not silently forgotten: its groups are remembered and, with
the next push this process makes, sent `{"type": "live.resync"}` so their sockets catch up from
the database (the receiving side of the same promise is `core/livewatch.py`).

How a push leaves (docs/websockets.md, "How a push travels"): each event is encoded once, as
the finished desk or widget frame; when the committing thread serves the event loop (consumers,
views under ASGI) the sends are handed to that loop and the thread returns at once. A task
worker process runs one long-lived loop of its own for the same purpose (`push_loop`), instead
of a new event loop — and a new channel-layer connection — per committed transaction. In the
embedded mode the server's own loop takes that role (`serve_thread_pushes`, from the ASGI
lifespan): the task worker thread's pushes must reach the in-memory layer on the loop its
sockets wait on, since a send from another loop wakes them only when that loop next wakes for
some other reason (uvicorn's 0.1 s tick).

Recipients are channel-layer groups split by audience. Staff groups get `event.staff`, customer
groups get `event.customer` (a customer-safe presentation, absent for internal events). The
recipient function of each event family lives next to its presenter and is tested.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import itertools
import json
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
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
    # An outage was declared, changed or ended (proactive/outages.py): the desks of its regions'
    # teams and the customers' sockets of its regions.
    OUTAGE_UPDATED = "outage.updated"
    # A region's or site's signals rose above its baseline: supervisors confirm or dismiss it
    # (proactive/detection.py).
    OUTAGE_SUSPECTED = "outage.suspected"
    # A supervisor whispered to the agent of a conversation: that agent, the team's
    # supervisors and admins only — never the team, never a customer (conversations/supervision.py).
    WHISPER_CREATED = "whisper.created"
    # A supervisor started or stopped watching a conversation, barged in or took it over: the
    # agent's desk shows who watches and says what happened (conversations/supervision.py).
    SUPERVISION_UPDATED = "supervision.updated"
    # A wellbeing signal passed its threshold: the private suggestion to the agent (or its
    # dismissal), and the alert to the supervisors of the agent's teams (wellbeing/actions.py).
    WELLBEING_SUGGESTION = "wellbeing.suggestion"
    WELLBEING_ALERT = "wellbeing.alert"


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


def wallboard_group(team_id: int) -> str:
    """The wallboards (supervisors' desk sockets, TV screens) showing one team."""
    return f"wallboard.{team_id}"


def wallboard_screen_group(screen_id: int) -> str:
    """The sockets of one TV screen's token (closed when it is revoked)."""
    return f"wallboard-screen.{screen_id}"


def team_ids_of(recipients: Recipients) -> set[int]:
    """The teams whose groups a push goes to (read back from the group names above)."""
    ids = set()
    for group in recipients.staff:
        prefix, _sep, rest = group.partition(".")
        if prefix == "team" and rest.isdigit():
            ids.add(int(rest))
    return ids


def region_group(region: str) -> str:
    """The customers' sockets (widget, app) of one region: trimmed and compared
    case-insensitively, as proactive.queries.region_key folds it. Hashed: a group name is
    ASCII and short, a region any text ("Østfold", "臺北")."""
    key = (region or "").strip().casefold()
    return f"region.{hashlib.sha256(key.encode()).hexdigest()[:32]}"


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
    if not pairs:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # One on-commit callback per transaction (per savepoint level): the events of a
        # transaction's later calls join the batch its first call registered, as long as that
        # batch is still the last callback registered (nothing else must leave between them,
        # so commit order holds) and was registered under the same savepoints (Django drops a
        # callback registered inside a savepoint that rolls back: the events of a rolled-back
        # savepoint must never join a batch that outlives it).
        hooks = connection.run_on_commit
        if hooks:
            sids, callback, _robust = hooks[-1]
            if isinstance(callback, _Batch) and sids == set(connection.savepoint_ids):
                callback.pairs.extend(pairs)
                return
        transaction.on_commit(_Batch(list(pairs)))
        return
    # Autocommit: Django runs the callback at once.
    transaction.on_commit(lambda: _send(list(pairs)))


class _Batch:
    """The events one transaction (or one of its savepoints) queued, sent by one callback."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[Event, Recipients]]) -> None:
        self.pairs = pairs

    def __call__(self) -> None:
        _send(self.pairs)


# Called with every committed batch of events before it is pushed, in the committing thread:
# a higher layer follows events this way without core knowing it (the desk's wallboard, which
# only notes which teams changed and returns at once). Registered in an AppConfig.ready.
_listeners: list[Callable[[list[tuple[Event, Recipients]]], None]] = []


def listen_to_committed_events(listener: Callable[[list[tuple[Event, Recipients]]], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _send(pairs: list[tuple[Event, Recipients]]) -> None:
    for sink in _captured:
        sink.extend(pairs)
    for listener in _listeners:
        try:
            listener(pairs)
        except Exception:  # a follower never stops the push itself
            logger.exception("an event listener failed")
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - channels always configured
        return
    loop = _server_loop() or _thread_push_loop
    if loop is not None and loop.is_running():
        # Called from the server's database thread (a consumer's or a view's work, through
        # sync_to_async): hand the sends to the event loop and return at once. Waiting for
        # them here (async_to_sync) kept that one thread blocked for a third of its busy time.
        # In a fresh context: the sender task it may start outlives this request and serves
        # later ones, so it must not carry this request's asgiref thread context
        # (core/asgi_handler.py: a request's kept thread refuses calls after the request).
        loop.call_soon_threadsafe(_enqueue, loop, layer, pairs, context=contextvars.Context())
        return
    # No loop to hand the sends to (management commands, sync tests): wait for them here.
    async_to_sync(_push)(layer, pairs)


# Where threads that serve no event loop hand their pushes: the task worker process's own loop
# while `push_loop()` runs, or the server's loop while `serve_thread_pushes` holds it.
_thread_push_loop: asyncio.AbstractEventLoop | None = None


def serve_thread_pushes(loop: asyncio.AbstractEventLoop | None) -> None:
    """From now on (None: no longer) the pushes of threads that serve no event loop — the
    embedded task worker's — leave through `loop`, the server's (teamline/asgi.py's lifespan).
    Called on that loop."""
    global _thread_push_loop
    _thread_push_loop = loop


@contextmanager
def push_loop(drain_seconds: float = 5.0) -> Iterator[None]:
    """While the block runs, pushes committed by any thread of this process that serves no
    event loop leave through one long-lived loop in a thread of its own, in commit order: the
    committing thread returns at once (a task goes on to the next one) and the channel layer
    keeps its connection. On the way out, what is still queued is sent (up to
    `drain_seconds`) before the loop stops."""
    global _thread_push_loop
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="event-push")
    thread.start()
    _thread_push_loop = loop
    try:
        yield
    finally:
        _thread_push_loop = None

        async def drained() -> None:
            sender = _senders.get(loop)
            if sender is not None:
                await asyncio.wait([sender], timeout=drain_seconds)

        try:
            asyncio.run_coroutine_threadsafe(drained(), loop).result(drain_seconds + 1)
        except Exception:  # a push that cannot leave is resynced by the clients
            logger.warning("event pushes still queued at shutdown were dropped")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=drain_seconds)
        if not thread.is_alive():
            loop.close()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop that called this thread through sync_to_async, if any."""
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(local, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


# Per event loop: the transactions waiting to be pushed, and the task sending them. The task
# lives only while there is something to send (it ends when its outbox is empty), so a loop
# that closes — a test's, or a server's at shutdown — never waits on an idle sender.
_outboxes: dict[asyncio.AbstractEventLoop, deque[tuple[Any, list[Any]]]] = {}
_senders: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def _enqueue(loop: asyncio.AbstractEventLoop, layer: Any, pairs: list[Any]) -> None:
    """On the loop: queue one transaction's events; pushes leave in commit order, one at a time."""
    _outboxes.setdefault(loop, deque()).append((layer, pairs))
    if loop not in _senders:
        _senders[loop] = loop.create_task(_send_queued(loop))


async def _send_queued(loop: asyncio.AbstractEventLoop) -> None:
    outbox = _outboxes[loop]
    task = asyncio.current_task()
    try:
        while outbox:
            layer, pairs = outbox.popleft()
            try:
                await _push(layer, pairs)
            except Exception:  # pragma: no cover - _push already counts failures as missed
                logger.exception("could not push after commit")
            if task is not None and task.cancelling():
                # The loop is closing (a layer may have swallowed the CancelledError): stop.
                break
    finally:
        # Only this loop's thread touches these entries. What a closing loop could not send
        # is resynced from the database with the next push that works, like a failed push.
        for _layer, pairs in outbox:
            _mark_missed(pairs)
        _senders.pop(loop, None)
        _outboxes.pop(loop, None)


# Groups a push could not reach; they are asked to resync with the next push that works.
_missed_groups: set[str] = set()


async def _push(layer: Any, pairs: list[tuple[Event, Recipients]]) -> None:
    await _resync_missed(layer)
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        # One pipeline for the whole transaction (core/layers.py), in the same order.
        try:
            await send_many(
                [send for event, recipients in pairs for send in _sends(event, recipients)]
            )
        except Exception:
            logger.exception("could not push %s", ", ".join(event.type for event, _ in pairs))
            _mark_missed(pairs)
        return
    for event, recipients in pairs:
        try:
            await _push_one(layer, event, recipients)
        except Exception:
            # At-most-once by design: the change is committed; the groups that may have
            # missed it are asked to resync from the database once the layer works again.
            logger.exception("could not push %s", event.type)
            _mark_missed([(event, recipients)])


def _mark_missed(pairs: list[tuple[Event, Recipients]]) -> None:
    for event, recipients in pairs:
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


def _encode(frame: dict[str, Any]) -> str:
    # Compact, and ASCII-safe like Channels' own send_json; encoded once per event, not per socket.
    return json.dumps(frame, separators=(",", ":"))


def customer_frame(event: Event) -> dict[str, Any] | None:
    """The widget socket's frame for a customer event (docs/websockets.md), or None for an
    event the widget does not show. Built here, once per event, so that every socket of the
    customer gets the same pre-encoded text."""
    data = event.customer
    if data is None:
        return None
    if event.type in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED):
        return {"type": "message", "message": data}
    if event.type == EventType.QUEUE_UPDATED:
        queue = data.get("queue")
        return {"type": "queue", "queue": queue if isinstance(queue, dict) else None}
    if event.type == EventType.CALL_UPDATED:
        return {"type": "call", "call": data}
    if event.type == EventType.CALL_SIGNAL:
        return {
            "type": "call.signal",
            "call_id": data.get("call_id"),
            "kind": data.get("kind"),
            "payload": data.get("payload"),
        }
    if event.type == EventType.VERIFICATION_UPDATED:
        return {"type": "verification", "verification": data}
    if event.type == EventType.OUTAGE_UPDATED:
        # One outage of the customer's region declared, changed or ended: the widget updates its
        # banner (in the heading its `ready` frame gave, the customer's language).
        outage = data.get("outage")
        return {"type": "outage", "outage": outage if isinstance(outage, dict) else None}
    if event.type == EventType.TYPING:
        sender = data.get("from")
        return {
            "type": "typing",
            "from": sender if sender in ("agent", "bot") else "agent",
            "name": str(data.get("name") or ""),
            "state": bool(data.get("state")),
        }
    return None


# Names one push of one event, whatever groups it goes to: a desk socket is in several of them
# (its teams, its user, the admins) and shows each event once (DeskConsumer.event_staff).
_push_ids = itertools.count(1)
_PROCESS_TAG = uuid.uuid4().hex[:12]


def staff_message(event: Event) -> dict[str, Any]:
    """The group message for staff sockets: the desk frame, encoded once, and the push's id."""
    return {
        "type": "event.staff",
        "event": event.type.value,
        "id": f"{_PROCESS_TAG}.{next(_push_ids)}",
        "text": _encode({"type": "event", "event": event.type.value, "data": event.staff}),
    }


def customer_message(event: Event) -> dict[str, Any] | None:
    """The group message for a customer's sockets: the widget frame, encoded once, and the
    conversation a message belongs to (the widget socket follows it for typing)."""
    frame = customer_frame(event)
    if frame is None or event.customer is None:
        return None
    message: dict[str, Any] = {
        "type": "event.customer",
        "event": event.type.value,
        "text": _encode(frame),
    }
    conversation_id = event.customer.get("conversation_id")
    if frame["type"] == "message" and isinstance(conversation_id, int):
        message["conversation_id"] = conversation_id
    return message


def _sends(event: Event, recipients: Recipients) -> list[tuple[str, dict[str, Any]]]:
    """(group, message) of one event: the staff frame to the staff groups, the customer's to
    the customer groups, each message built once."""
    sends: list[tuple[str, dict[str, Any]]] = []
    if recipients.staff:
        staff = staff_message(event)
        sends.extend((group, staff) for group in sorted(recipients.staff))
    if event.customer is not None and recipients.customer:
        customer = customer_message(event)
        if customer is not None:
            sends.extend((group, customer) for group in sorted(recipients.customer))
    return sends


async def _push_one(layer: Any, event: Event, recipients: Recipients) -> None:
    # A failure stops this event's fan-out: every group of it counts as missed (see _push).
    for group, message in _sends(event, recipients):
        await layer.group_send(group, message)


def send_to_groups(sends: list[tuple[str, dict[str, Any]]], what: str) -> None:
    """Control messages to socket groups, now (call after commit): close a session's sockets,
    a masking change, a revoked screen. They leave the way an event's push does — through the
    event loop the sockets wait on where this thread has one (a request's, the embedded worker's
    server loop, a worker process's push loop), else sent and waited for here. At most once,
    like every push: a failure is logged (`what` names it), the sockets check again on their
    own."""
    if not sends:
        return
    loop = _server_loop() or _thread_push_loop
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(asend_to_groups(sends, what), loop)
        return
    async_to_sync(asend_to_groups)(sends, what)


async def asend_to_groups(sends: list[tuple[str, dict[str, Any]]], what: str) -> int:
    """`send_to_groups` for a caller already on the loop the sockets wait on (the wallboard's
    publisher): sent now, in order. At most once: the first failure is logged (`what` names
    it) and the rest are not sent. How many were sent."""
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - channels always configured
        return 0
    sent = 0
    try:
        for group, message in sends:
            await layer.group_send(group, message)
            sent += 1
    except Exception:
        logger.exception("could not %s", what)
    return sent


async def asend_ephemeral(event: Event, recipients: Recipients) -> None:
    """Send now, outside any transaction: for state that is never stored (typing indicators)."""
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover
        return
    await _push_one(layer, event, recipients)


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop that called this thread through sync_to_async, if any (for a
    follower of events that hands its own work to the server's loop, like the pushes do)."""
    return _server_loop()
