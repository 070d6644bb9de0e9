"""Reading calls: the access helper every call id from a request goes through, and the calls
an agent's desk shows."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from teamline.accounts.models import User
from teamline.conversations.models import (
    Conversation,
    ConversationParticipant,
    TimelineEvent,
    TimelineKind,
)
from teamline.conversations.queries import visible_conversations
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import LIVE_CALL_STATES, Call, CallState


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
