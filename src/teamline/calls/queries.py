"""Reading calls: the access helper every call id from a request goes through, the calls an
agent's desk shows, and the live calls of the teams a supervisor supervises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from teamline.accounts.models import Role, User
from teamline.conversations.models import (
    Conversation,
    ConversationParticipant,
    TimelineEvent,
    TimelineKind,
)
from teamline.conversations.queries import visible_conversations
from teamline.core.errors import Forbidden, NotFound
from teamline.core.ids import parse_id
from teamline.routing.eta import QueueStatus, snapshot
from teamline.routing.models import WorkState
from teamline.teams.models import Team
from teamline.teams.queries import membership_team_ids

from .models import (
    LIVE_CALL_STATES,
    LIVE_MONITOR_STATES,
    Call,
    CallDirection,
    CallMedium,
    CallMonitor,
    CallState,
)

# The supervisors' live calls page shows at most this many calls (the oldest first) and says
# how many there are in all.
LIVE_CALLS_LIMIT = 100
# A phone call has a conference room to listen in on once the agent accepted it.
MONITORABLE_STATES = (CallState.CONNECTING, CallState.ACTIVE, CallState.HELD)


def visible_calls(actor: User) -> QuerySet[Call]:
    """Calls of conversations the actor may see (their teams', assigned to them, joined as an
    expert; every one for admins)."""
    return Call.objects.select_related("conversation", "customer", "agent", "inbox").filter(
        conversation__in=visible_conversations(actor).values("pk")
    )


def access_call(actor: User, call_id: object) -> Call:
    """The call `call_id` if the actor may see its conversation; NotFound otherwise (the same
    answer for a call that does not exist, so ids cannot be probed)."""
    pk = parse_id(call_id, "call")
    call = visible_calls(actor).filter(pk=pk).first()
    if call is None:
        raise NotFound("No such call.")
    return call


def live_call_of(conversation: Conversation | int) -> Call | None:
    """The conversation's live call, if any (the newest one)."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    return (
        Call.objects.filter(conversation_id=conversation_id, state__in=LIVE_CALL_STATES)
        .order_by("-created_at", "-pk")
        .first()
    )


def last_dialled_call(conversation: Conversation | int, since: datetime) -> Call | None:
    """The conversation's newest call Teamline dialled out (Call now) that has ended and was
    opened at or after `since`: what the desk says about the last attempt."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    return (
        Call.objects.filter(
            conversation_id=conversation_id,
            direction=CallDirection.OUTBOUND,
            state=CallState.ENDED,
            created_at__gte=since,
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def ringing_calls_for(agent: User) -> QuerySet[Call]:
    """Calls ringing for `agent`: waiting on the line while the routing engine has assigned
    their conversation to the agent, oldest first."""
    return (
        Call.objects.select_related("conversation", "customer")
        .filter(state=CallState.WAITING, conversation__assignee=agent)
        .order_by("created_at", "pk")
    )


def agent_live_calls(agent: User) -> QuerySet[Call]:
    """The agent's accepted calls that have not ended."""
    return Call.objects.filter(
        agent=agent,
        state__in=(CallState.CONNECTING, CallState.ACTIVE, CallState.HELD),
    ).select_related("conversation", "customer")


def desk_calls_for(agent: User) -> list[Call]:
    """Every live call the agent's desk shows, in one query: ringing for them (waiting while
    their conversation is assigned to them), theirs (accepted), and those of conversations they
    help in as an expert. Oldest first."""
    helping = ConversationParticipant.objects.filter(user=agent, left_at__isnull=True).values(
        "conversation_id"
    )
    return list(
        Call.objects.select_related("conversation", "customer", "agent")
        .filter(state__in=LIVE_CALL_STATES)
        .filter(
            Q(agent=agent)
            | Q(state=CallState.WAITING, conversation__assignee=agent)
            | Q(conversation__in=helping)
        )
        .order_by("created_at", "pk")[:10]
    )


def call_log(conversation: Conversation | int) -> QuerySet[TimelineEvent]:
    """The conversation's call rows of the timeline, oldest first: every call's states and its
    recording (started, paused and resumed by whom, stored). Staff only: the caller of this
    has resolved the conversation through access_conversation."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    return (
        TimelineEvent.objects.filter(conversation_id=conversation_id, kind=TimelineKind.CALL)
        .select_related("actor")
        .order_by("created_at", "pk")
    )


# --- Supervisors ----------------------------------------------------------------------------


def supervised_team_ids(actor: User) -> list[int] | None:
    """The teams whose calls `actor` supervises: None for admins (every team), the teams a
    supervisor works in or supervises (the rule of routing.transfers.can_supervise, for a set
    of conversations). Forbidden for everyone else."""
    if actor.is_admin:
        return None
    if actor.is_active and actor.role == Role.SUPERVISOR:
        return membership_team_ids(actor)
    raise Forbidden("Only supervisors and admins can see live calls.")


def can_supervise_call(actor: User, call: Call) -> bool:
    """Admins, and supervisors of (or in) the call's conversation's team."""
    try:
        teams = supervised_team_ids(actor)
    except Forbidden:
        return False
    return teams is None or call.conversation.team_id in teams


@dataclass(frozen=True)
class LiveCallRow:
    """One live call as a supervisor sees it."""

    call: Call
    team: Team
    # The agent on the call, or (waiting) the agent it rings for; None while it waits for one.
    agent: User | None
    ringing: bool
    seconds_in_state: int
    # From the work item's enqueue to its assignment (or now, while it waits); None without one.
    queue_seconds: int | None
    queue: QueueStatus | None  # position and estimate while it waits in line
    listening: CallMonitor | None  # the actor's own live monitor leg on it

    @property
    def monitorable(self) -> bool:
        return self.call.medium == CallMedium.PHONE and self.call.state in MONITORABLE_STATES

    @property
    def browser(self) -> bool:
        return self.call.medium in (CallMedium.AUDIO, CallMedium.VIDEO)


@dataclass(frozen=True)
class LiveCalls:
    rows: list[LiveCallRow]
    total: int
    at: datetime

    def count(self, *states: str) -> int:
        return sum(1 for row in self.rows if row.call.state in states)


def _seconds(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else max(int((end - start).total_seconds()), 0)


def live_calls_for_supervisor(
    actor: User, *, now: datetime | None = None, limit: int = LIVE_CALLS_LIMIT
) -> LiveCalls:
    """The live calls of the teams `actor` supervises (every team for admins), oldest first, at
    most `limit` of them with the total: who is on each (agent, customer), the medium, the state
    and for how long, how long it waited in line and, while it waits, its place and estimate
    from routing's queue snapshot. Forbidden for staff who supervise nothing.

    A fixed number of queries whatever the number of calls: the count, the calls with their
    conversation, team, customer, agent and work item, the actor's own monitor legs, and — only
    when some call waits in line — routing.eta.snapshot for the actor's teams. The filter on
    state uses the `call_live_by_agent` index (state first)."""
    now = now or timezone.now()
    team_ids = supervised_team_ids(actor)
    calls = Call.objects.filter(state__in=LIVE_CALL_STATES)
    if team_ids is not None:
        calls = calls.filter(conversation__team_id__in=team_ids)
    total = calls.count()
    found = list(
        calls.select_related(
            "conversation__team", "conversation__assignee", "customer", "agent", "work_item"
        ).order_by("created_at", "pk")[:limit]
    )
    mine = {
        monitor.call_id: monitor
        for monitor in CallMonitor.objects.filter(
            call_id__in=[call.pk for call in found],
            supervisor=actor,
            state__in=LIVE_MONITOR_STATES,
        )
    }
    queued = [
        call.work_item_id
        for call in found
        if call.work_item is not None and call.work_item.state == WorkState.QUEUED
    ]
    statuses: dict[int, QueueStatus] = {}
    if queued:
        statuses = {
            status.work_item_id: status
            for status in snapshot(now, team_ids=team_ids)
            if status.work_item_id in queued
        }
    rows = []
    for call in found:
        item = call.work_item
        waiting = call.state == CallState.WAITING
        ringing_for = call.conversation.assignee if waiting else None
        queue_end = now
        if item is not None and item.state != WorkState.QUEUED and item.assigned_at:
            queue_end = item.assigned_at
        rows.append(
            LiveCallRow(
                call=call,
                team=call.conversation.team,
                agent=call.agent or ringing_for,
                ringing=ringing_for is not None,
                seconds_in_state=_seconds(call.state_changed_at, now) or 0,
                queue_seconds=_seconds(item.enqueued_at, queue_end) if item else None,
                queue=statuses.get(item.pk) if item is not None else None,
                listening=mine.get(call.pk),
            )
        )
    return LiveCalls(rows=rows, total=total, at=now)
