"""Virtual hold: the waiting customer asks to be called back instead of waiting.

A callback is the conversation's own work item, turned into kind `callback` and channel kind
`voice` with its `enqueued_at` and `rank_at` unchanged: it keeps its place in line and is
claimed like any conversation (`routing.actions.claim`, voice capacity). While it lives the
conversation's `channel_kind` is `voice`, so an agent's voice load counts it; it is put back
when the item closes (scheduling.work_closed). "Call done" resolves the conversation. "No
answer" gives the item back to the queue with its next check `CALLBACK_RETRY_MINUTES` later
(it has no queue entry until then, so nobody is offered it early) up to `CALLBACK_RETRIES`
times, then closes the callback with a system message to the customer's conversation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.events import emit_conversation, record
from teamline.conversations.locks import lock_agent_then_conversation, lock_conversation
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.core.errors import Conflict, NotFound
from teamline.core.events import EventType
from teamline.core.ids import parse_id
from teamline.customers.masking import Sensitive, shown
from teamline.teams.queries import team_ids_for

from .actions import agent_freed, route_conversation
from .models import (
    LIVE_CALLBACK_STATES,
    Callback,
    CallbackState,
    QueueEntry,
    WorkItem,
    WorkKind,
    WorkState,
)
from .scheduling import (
    in_customer_language,
    local_time,
    normalize_phone,
    now_or_clock,
    record_routed,
    requeue_call,
    system_message,
)

CALLBACK_RETRIES = 2


CALLBACK_RETRY_MINUTES = 10


def do_request_callback(
    conversation: Conversation,
    phone: str,
    *,
    actor: User | None = None,
    now: datetime | None = None,
) -> Callback:
    """The waiting customer asks to be called back instead of waiting (virtual hold).

    Locks the conversation, then updates its queued work item conditionally on its version
    (kind callback, channel kind voice, same rank). Records `routed` (callback requested),
    posts a system message, then routes the item at once (a free voice agent may take it).
    Asking again while a callback lives just updates its number."""
    now = now_or_clock(now)
    with transaction.atomic():
        conv = lock_conversation(conversation.pk, related=("team",))
        number = normalize_phone(phone, conv.team)
        live = Callback.objects.filter(conversation=conv, state__in=LIVE_CALLBACK_STATES).first()
        if live is not None:
            if live.phone != number:
                Callback.objects.filter(pk=live.pk).update(phone=number)
                live.phone = number
                record_routed(conv, actor, callback="number_changed", phone=number)
            return live
        row = WorkItem.objects.filter(conversation=conv, state=WorkState.QUEUED).first()
        if conv.status != Status.OPEN or conv.assignee_id or row is None:
            raise Conflict(_("This conversation is not waiting in line."))
        original = conv.channel_kind
        updated = WorkItem.objects.filter(
            pk=row.pk, state=WorkState.QUEUED, version=row.version
        ).update(
            kind=WorkKind.CALLBACK,
            channel_kind="voice",
            next_check_at=now,
            version=F("version") + 1,
        )
        if not updated:
            raise Conflict(_("Your place in line just changed; please try again."))
        QueueEntry.objects.filter(work_item=row).update(channel_kind="voice")
        Conversation.objects.filter(pk=conv.pk).update(channel_kind="voice", updated_at=now)
        callback = Callback.objects.create(
            conversation=conv,
            customer_id=conv.customer_id,
            work_item=row,
            phone=number,
            original_channel_kind=original,
            requested_at=now,
        )
        record_routed(
            conv,
            actor,
            callback="requested",
            phone=number,
            reason="the customer asked to be called back instead of waiting; same place in line",
        )
        with in_customer_language(conv):
            text = _(
                "We will call you on %(phone)s when it is your turn. You keep your place in line."
            ) % {"phone": number}
        system_message(conv, text, now, "callback")
        conv.refresh_from_db()

        route_conversation(conv, now=now)
    return callback


def _require_state(callback: Callback, *states: str) -> None:
    if callback.state not in states:
        raise Conflict(_("This callback is not with an agent."))


def do_complete_callback(
    callback: Callback, *, actor: User, now: datetime | None = None
) -> Callback:
    """ "Call done": the callback is done and its conversation resolved (the agent's voice
    capacity is given back, after wrap-up). Records `routed` (callback done)."""
    now = now_or_clock(now)
    callback.refresh_from_db()
    _require_state(callback, CallbackState.ASSIGNED)
    with transaction.atomic():
        conv = Conversation.objects.get(pk=callback.conversation_id)
        record_routed(conv, actor, callback="done", phone=callback.phone)
        do_change_status(conv, Status.RESOLVED, actor=actor)
    callback.refresh_from_db()
    return callback


def do_callback_no_answer(
    callback: Callback, *, actor: User, now: datetime | None = None
) -> Callback:
    """ "No answer": call again `CALLBACK_RETRY_MINUTES` later, up to `CALLBACK_RETRIES` times
    (the item goes back to the queue, same rank, due at the retry time); after that the callback
    is closed (failed) with a system message and the conversation resolved.
    Locks agent profile → conversation. Records `unassigned` / `routed`."""
    now = now_or_clock(now)
    callback.refresh_from_db()
    _require_state(callback, CallbackState.ASSIGNED)
    attempts = callback.attempts + 1
    freed: int | None = None
    with transaction.atomic():
        conv = lock_agent_then_conversation(
            callback.agent_id or None, callback.conversation_id, related=("team",)
        )
        if attempts <= CALLBACK_RETRIES:
            retry_at = now + timedelta(minutes=CALLBACK_RETRY_MINUTES)
            freed = requeue_call(conv, callback.work_item_id, retry_at, now)
            Callback.objects.filter(pk=callback.pk).update(
                state=CallbackState.QUEUED, attempts=attempts, next_attempt_at=retry_at, agent=None
            )
            when = local_time(conv.team, retry_at, now)
            with in_customer_language(conv) as language:
                text = _(
                    "We tried to call you on %(phone)s but could not reach you. We will try again "
                    "at %(time)s."
                ) % {
                    "phone": callback.phone,
                    "time": local_time(conv.team, retry_at, now, language),
                }
            record(
                conv,
                TimelineKind.UNASSIGNED,
                actor=actor,
                agent_id=freed,
                callback="no_answer",
                attempt=attempts,
                reason=f"no answer on {callback.phone}; calling again at {when}",
            )
            system_message(conv, text, now, "callback")
            conv.refresh_from_db()

            emit_conversation(conv, EventType.ASSIGNMENT_CHANGED)
        else:
            Callback.objects.filter(pk=callback.pk).update(
                state=CallbackState.FAILED, attempts=attempts, closed_at=now
            )
            record_routed(conv, actor, callback="failed", phone=callback.phone, attempts=attempts)
            with in_customer_language(conv):
                text = ngettext(
                    "We could not reach you on %(phone)s after %(count)d try, so we have closed "
                    "your callback request. Write to us here whenever it suits you.",
                    "We could not reach you on %(phone)s after %(count)d tries, so we have closed "
                    "your callback request. Write to us here whenever it suits you.",
                    attempts,
                ) % {"phone": callback.phone, "count": attempts}
            system_message(conv, text, now, "callback")
            do_change_status(conv, Status.RESOLVED, actor=actor)
            Conversation.objects.filter(pk=conv.pk).update(
                channel_kind=callback.original_channel_kind
            )
    if freed is not None:
        agent = User.objects.filter(pk=freed).first()
        if agent is not None:
            agent_freed(agent, channel_kind="voice", now=now)
    callback.refresh_from_db()
    return callback


def present_callback(callback: Callback, viewer: Any = None) -> dict[str, Any]:
    """The callback; its number masked for a remote agent (customers/masking.py)."""
    return {
        "id": callback.pk,
        "conversation_id": callback.conversation_id,
        "phone": shown(viewer, Sensitive.PHONE, callback.phone),
        "state": callback.state,
        "attempts": callback.attempts,
        "next_attempt_at": callback.next_attempt_at.isoformat()
        if callback.next_attempt_at
        else None,
        "requested_at": callback.requested_at.isoformat(),
    }


def live_callback(conversation_id: int) -> Callback | None:
    return Callback.objects.filter(
        conversation_id=conversation_id, state__in=LIVE_CALLBACK_STATES
    ).first()


def access_callback(actor: Any, callback_id: object) -> Any:
    """A callback of a conversation in the actor's teams (admins: any); NotFound otherwise."""
    pk = parse_id(callback_id, "callback")
    qs = Callback.objects.select_related("conversation", "conversation__team")
    if not actor.is_admin:
        qs = qs.filter(conversation__team_id__in=team_ids_for(actor))
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such callback."))
    return found
