"""Every change to a call. Each transition is one conditional UPDATE on (state, version): a
provider retry, a double click or two agents never move a call twice; the loser gets
InvalidInput saying what the call is now. Every change records a `call` timeline row and emits
`call.updated` after commit.

What a change means for the media is the medium's `CallControl` (calls/control.py): a phone
call asks the provider to bridge, hold, mute or hang up its legs; a browser call's media is
negotiated by the two browsers over the websockets, so its control does nothing on the server.
The control runs after the row moved, inside the action's transaction: a provider that refuses
rolls the move back and the agent sees why.

Lock order: the conversation (conversations.locks) before the call row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, QuerySet, Value, When
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, Presence, User
from teamline.analytics import actions as analytics
from teamline.conversations.actions import do_change_status
from teamline.conversations.events import record
from teamline.conversations.models import Conversation, Inbox, Status, TimelineKind
from teamline.core.errors import InvalidInput
from teamline.routing.actions import (
    agent_freed,
    close_work_item,
    offer_waiting_work,
    return_to_channel_kind,
)
from teamline.routing.declines import do_decline_work, route_declined
from teamline.routing.models import WorkItem, WorkState
from teamline.routing.transfers import do_transfer_conversation
from teamline.teams.models import Team

from .control import control_for
from .events import emit_call
from .models import (
    LIVE_CALL_STATES,
    Call,
    CallDirection,
    CallMedium,
    CallState,
    RecordingState,
)
from .recording import do_start_recording


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _move(
    call: Call,
    *,
    from_states: Iterable[str],
    actor: User | None,
    event: str,
    timeline: dict[str, Any] | None = None,
    also: tuple[int, ...] = (),
    **changes: Any,
) -> Call:
    """Move `call` from one of `from_states` with `changes` (conditional on its version);
    InvalidInput when it is not in such a state any more. `also`: staff who hear the change
    besides the conversation's (calls/events.py)."""
    states = tuple(from_states)
    if "state" in changes:
        changes.setdefault("state_changed_at", timezone.now())
    with transaction.atomic():
        moved = Call.objects.filter(pk=call.pk, state__in=states, version=call.version).update(
            version=F("version") + 1, **changes
        )
        fresh = Call.objects.select_related("conversation").get(pk=call.pk)
        if not moved:
            raise InvalidInput(f"This call is {fresh.get_state_display().lower()} now.")
        record(
            fresh.conversation,
            TimelineKind.CALL,
            actor=actor,
            call_id=fresh.pk,
            medium=fresh.medium,
            event=event,
            **(timeline or {}),
        )
        emit_call(fresh, also=also)
    return fresh


def do_open_call(
    conversation: Conversation,
    *,
    medium: str,
    direction: str = CallDirection.INBOUND,
    inbox: Inbox | None = None,
    provider_call_sid: str = "",
    work_item_id: int | None = None,
    now: datetime | None = None,
) -> Call:
    """A customer is on the line for `conversation` (waiting). Idempotent on the provider's
    call SID per inbox (a retried webhook finds the call it opened). Run it in the transaction
    that queues the conversation's voice work item."""
    if medium not in CallMedium.values:
        raise InvalidInput(f"No such call medium: {medium!r}.")
    if provider_call_sid:
        existing = Call.objects.filter(inbox=inbox, provider_call_sid=provider_call_sid).first()
        if existing is not None:
            return existing
    with transaction.atomic():
        call = Call.objects.create(
            conversation=conversation,
            customer_id=conversation.customer_id,
            work_item_id=work_item_id,
            inbox=inbox,
            medium=medium,
            direction=direction,
            provider_call_sid=provider_call_sid,
            created_at=_now(now),
            state_changed_at=_now(now),
        )
        record(
            conversation,
            TimelineKind.CALL,
            call_id=call.pk,
            medium=medium,
            event="waiting",
            direction=direction,
        )
        emit_call(call)
    return call


def do_accept_call(call: Call, *, actor: User, now: datetime | None = None) -> Call:
    """The agent the conversation is assigned to answers its ringing call: `connecting`, the
    call is theirs. Only the assignee may accept (InvalidInput otherwise)."""
    assignee = (
        Conversation.objects.filter(pk=call.conversation_id)
        .values_list("assignee_id", flat=True)
        .first()
    )
    if assignee != actor.pk:
        raise InvalidInput("This call is not ringing for you.")
    with transaction.atomic():
        accepted = _move(
            call,
            from_states=[CallState.WAITING],
            actor=actor,
            event="accepted",
            state=CallState.CONNECTING,
            agent=actor,
        )
        control_for(accepted).accepted(accepted)
    return accepted


def do_mark_call_connected(call: Call, *, now: datetime | None = None) -> Call:
    """Both sides can hear each other (the provider bridged the legs, or the browsers'
    connection is up): `active`, the call timer starts. A phone call on an inbox that records
    calls starts recording once this commits (calls/recording.py: the provider's answer is
    not waited for with the caller's transaction open; a recording that cannot start does not
    stop the call)."""
    at = _now(now)
    with transaction.atomic():
        connected = _move(
            call,
            from_states=[CallState.CONNECTING],
            actor=None,
            event="connected",
            state=CallState.ACTIVE,
            answered_at=at,
        )
        if connected.agent_id:
            # The call is bridged: a human answered the voice contact (analytics' facts).
            analytics.record_answered(
                connected.conversation_id, connected.agent_id, at, by_call=True
            )
    if connected.medium == CallMedium.PHONE:
        transaction.on_commit(lambda: do_start_recording(connected), robust=True)
    return connected


def do_set_call_held(call: Call, *, held: bool, actor: User) -> Call:
    """The agent puts the customer on hold, or takes them back."""
    if call.agent_id != actor.pk:
        raise InvalidInput("Only the agent on the call can hold it.")
    source, target = (
        (CallState.ACTIVE, CallState.HELD) if held else (CallState.HELD, CallState.ACTIVE)
    )
    with transaction.atomic():
        moved = _move(
            call,
            from_states=[source],
            actor=actor,
            event="held" if held else "resumed",
            state=target,
        )
        control_for(moved).held(moved, held=held)
    return moved


def do_set_call_muted(call: Call, *, muted: bool, actor: User) -> Call:
    """The agent mutes their microphone (the customer stops hearing them), or unmutes."""
    if call.agent_id != actor.pk:
        raise InvalidInput("Only the agent on the call can mute it.")
    with transaction.atomic():
        moved = _move(
            call,
            from_states=[CallState.ACTIVE, CallState.HELD],
            actor=actor,
            event="muted" if muted else "unmuted",
            muted=muted,
        )
        control_for(moved).muted(moved, muted=muted)
    return moved


def do_end_call(
    call: Call,
    *,
    reason: str,
    actor: User | None = None,
    now: datetime | None = None,
    hang_up: bool = False,
) -> Call | None:
    """The call is over (either side hung up, it failed, nobody answered). Idempotent: a call
    already ended returns None and changes nothing (providers send several final statuses).
    `hang_up`: Teamline ends it (the agent pressed End), so the medium's control hangs up the
    legs; a call the provider reported over needs no hang-up. A recording, paused or not, is
    `stopped` with it (the provider finishes the file; calls/recording.py keeps it)."""
    ended_at = _now(now)
    with transaction.atomic():
        moved = Call.objects.filter(pk=call.pk, state__in=LIVE_CALL_STATES).update(
            state=CallState.ENDED,
            ended_at=ended_at,
            state_changed_at=ended_at,
            end_reason=reason[:200],
            version=F("version") + 1,
            # A recording (paused or not) ends with the call.
            recording_state=Case(
                When(recording_state=RecordingState.OFF, then=Value(RecordingState.OFF)),
                default=Value(RecordingState.STOPPED),
            ),
        )
        if not moved:
            return None
        fresh = Call.objects.select_related("conversation").get(pk=call.pk)
        talked = int((ended_at - fresh.answered_at).total_seconds()) if fresh.answered_at else None
        record(
            fresh.conversation,
            TimelineKind.CALL,
            actor=actor,
            call_id=fresh.pk,
            medium=fresh.medium,
            event="ended",
            reason=fresh.end_reason,
            talked_seconds=talked,
        )
        emit_call(fresh)
        if fresh.answered_at is not None:
            # The voice contact is handled: answered → call end, plus the agent's wrap-up.
            analytics.record_call_ended(fresh.conversation_id, fresh.agent_id, ended_at)
        elif fresh.direction == CallDirection.INBOUND:
            # The customer left before an answer (in line or while it rang): abandoned.
            analytics.record_call_abandoned(fresh.conversation_id, ended_at)
        if hang_up:
            control_for(fresh).hang_up(fresh)
    if fresh.agent is not None:
        # After a call its agent wraps up before routing offers them more (routing decides
        # how long: their profile's wrap_up_seconds).
        agent_freed(fresh.agent, channel_kind="voice", now=ended_at)
    return fresh


# --- Ringing: reject, no answer, transfer -----------------------------------------------------


def do_reject_call(
    call: Call,
    *,
    actor: User,
    reason: str = "rejected",
    now: datetime | None = None,
    offer_next: bool = True,
) -> Call:
    """The agent the call rings for declines it: the conversation goes back to the queue with
    its place in line, is not offered to this agent again for this call
    (routing.declines.do_decline_work), and routing looks for someone else at once. The call
    stays `waiting` (the customer is still on the line). With `offer_next` the agent, now free,
    is offered the next waiting work (never this one). Records a `call` event "rejected"
    (agent, reason); emits call.updated to the conversation's staff and the agent.
    InvalidInput when the call is not ringing for the actor."""
    now = _now(now)
    if call.state != CallState.WAITING:
        raise InvalidInput(f"This call is {call.get_state_display().lower()} now.")
    with transaction.atomic():
        do_decline_work(call.conversation, actor, reason=reason, actor=actor, now=now, route=False)
        rejected = _move(
            call,
            from_states=[CallState.WAITING],
            actor=actor,
            event="rejected",
            timeline={"agent_id": actor.pk, "agent": actor.name, "reason": reason},
            also=(actor.pk,),
        )
    route_declined(rejected.conversation_id, now=now)
    if offer_next:
        offer_waiting_work(actor, now=now)
    return rejected


NO_ANSWER = "no answer"


def ring_seconds() -> int:
    """How long a call rings for an agent before it goes to someone else
    (TEAMLINE_CALL_RING_SECONDS)."""
    return max(1, int(settings.TEAMLINE.get("CALL_RING_SECONDS", 20)))


def unanswered_calls(now: datetime) -> QuerySet[Call]:
    """Waiting calls that have rung for their assignee longer than `ring_seconds()`: the
    conversation was assigned (its live work item's assigned_at) and the call was waiting
    that long ago."""
    cutoff = now - timedelta(seconds=ring_seconds())
    assigned_long_ago = WorkItem.objects.filter(
        conversation=OuterRef("conversation"),
        state=WorkState.ASSIGNED,
        assigned_at__lte=cutoff,
    )
    return (
        Call.objects.filter(
            state=CallState.WAITING,
            created_at__lte=cutoff,
            conversation__assignee__isnull=False,
            conversation__status=Status.OPEN,
        )
        .filter(Exists(assigned_long_ago))
        .select_related("conversation__assignee")
        .order_by("created_at", "pk")
    )


def do_ring_timeouts(now: datetime | None = None, *, limit: int = 100) -> int:
    """Calls nobody answered in time (RONA, periodic): each is taken from its agent like a
    rejection (reason "no answer": same place in line, not offered to them again) and the
    agent's presence becomes away — they are not at the desk, so routing offers them nothing
    more until they say they are back; the desk's call panel tells them why. Returns how many."""
    now = _now(now)
    handled = 0
    for call in list(unanswered_calls(now)[:limit]):
        agent = call.conversation.assignee
        if agent is None:
            continue
        try:
            do_reject_call(call, actor=agent, reason=NO_ANSWER, now=now, offer_next=False)
        except InvalidInput:
            continue  # answered, rejected or reassigned meanwhile
        if AgentProfile.objects.filter(user=agent).exists():
            do_set_presence(agent, Presence.AWAY, actor=agent)
        handled += 1
    return handled


def do_transfer_call(
    call: Call,
    *,
    actor: User,
    to_agent: User | None = None,
    to_team: Team | None = None,
    to_skill: str | None = None,
    note: str,
    now: datetime | None = None,
) -> Call:
    """The agent on a call hands it to an agent, a team or a skill queue: the conversation is
    transferred as any other (routing.transfers.do_transfer_conversation: same place in line,
    the note for whoever takes it) and the call goes back to `waiting` — the customer stays on
    the line (the medium's control `released`: a phone caller hears hold music) and it rings
    for the new assignee. Only the agent on the call (or whoever routing's transfer rules
    allow: supervisors) may; InvalidInput/Forbidden/Conflict otherwise, nothing changed.
    Records a `call` event "transferred"; emits call.updated (also to the agent who gave it
    away) and what the conversation transfer emits."""
    now = _now(now)
    if call.state not in (CallState.CONNECTING, CallState.ACTIVE, CallState.HELD):
        raise InvalidInput(f"This call is {call.get_state_display().lower()} now.")
    previous = call.agent_id
    with transaction.atomic():
        moved = _move(
            call,
            from_states=[CallState.CONNECTING, CallState.ACTIVE, CallState.HELD],
            actor=actor,
            event="transferred",
            timeline={"from_agent_id": previous},
            also=(previous,) if previous else (),
            state=CallState.WAITING,
            agent=None,
            muted=False,
        )
        do_transfer_conversation(
            moved.conversation,
            actor=actor,
            to_agent=to_agent,
            to_team=to_team,
            to_skill=to_skill,
            note=note,
            now=now,
        )
        control_for(moved).released(moved)
    return Call.objects.select_related("conversation").get(pk=moved.pk)


def do_abandon_in_line(
    conversation: Conversation,
    *,
    waited_seconds: int,
    original_channel_kind: str,
    reason: str,
    now: datetime,
    **timeline: Any,
) -> None:
    """The customer hung up while their call waited in line (a phone caller in the IVR's
    queue, a web caller pressing End): an abandonment. The work item closes `abandoned`, the
    timeline records `routed` with `call: abandoned`, the seconds waited and why, and the
    conversation the call started is resolved — one that waited before as another channel
    kind waits again as that kind. Runs in the caller's transaction, the conversation locked."""
    close_work_item(conversation, now=now, state=WorkState.ABANDONED)
    record(
        conversation,
        TimelineKind.ROUTED,
        call="abandoned",
        waited_seconds=waited_seconds,
        reason=reason,
        **timeline,
    )
    if original_channel_kind:
        return_to_channel_kind(conversation, original_channel_kind, now=now)
    else:
        conversation.refresh_from_db()
        do_change_status(conversation, Status.RESOLVED, actor=None)
