"""Row locks, taken in the one order every writer follows (docs/adr/0002-assignment-lock-order.md):

    agent profile(s) → conversation(s) → customer(s) → work item(s) (→ their queue entries)

A writer that needs several levels calls these helpers in that order inside one transaction;
`lock_agent_then_conversation` takes the common pair. When a helper locks several rows of one
level it takes them in ascending primary key, so two writers never wait on each other in
opposite orders. On PostgreSQL each is a SELECT … FOR UPDATE; on SQLite the IMMEDIATE
transaction already holds the database write lock and the helpers only read.

Customer rows are locked by customers.actions (merges, SMS keywords: lower ids first), an agent's
own presence change by accounts.actions (the profile alone), and work items by routing
(routing/placement.py, routing/batch.py: last, in primary key order): those apps sit below or
above this one (docs/adr/0005), so they keep their own lock statements, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from teamline.accounts.models import AgentProfile, Presence
from teamline.core.compiled import CompiledOnce

from .models import Conversation, Status


def lock_agent(
    user_id: int, *, presence: str | None = None, active_only: bool = False
) -> AgentProfile | None:
    """The agent's profile row, locked; None when there is none (or it is not in `presence`, or
    the user is inactive with `active_only`): the caller's reason not to go on."""
    qs = AgentProfile.objects.select_for_update().filter(user_id=user_id)
    if presence is not None:
        qs = qs.filter(presence=presence)
    if active_only:
        qs = qs.filter(user__is_active=True)
    return qs.first()


def lock_available_agent(user_id: int) -> AgentProfile | None:
    """The profile of an active agent who is available, locked (a claim's first step)."""
    return lock_agent(user_id, presence=Presence.AVAILABLE, active_only=True)


def lock_agents(user_ids: Iterable[int]) -> dict[int, AgentProfile]:
    """Many agents' profiles by user id, locked in user id order, with their users read (not
    locked: `of=self`) for the capacity rule (batch claims)."""
    return {
        profile.user_id: profile
        for profile in AgentProfile.objects.filter(user_id__in=sorted(set(user_ids)))
        .select_for_update(of=("self",))
        .select_related("user")
        .order_by("user_id")
    }


def lock_conversation(conversation_id: int, *, related: Sequence[str] = ()) -> Conversation:
    """The conversation row, locked (DoesNotExist if it is gone). `related` rows (its team…)
    are read in the same statement; PostgreSQL's FOR UPDATE locks them too."""
    qs = Conversation.objects.select_for_update()
    if related:
        qs = qs.select_related(*related)
    return qs.get(pk=conversation_id)


# What an event about a conversation presents (conversations.presenters): read in the same
# statement as the locked row, so the hot paths never load them one by one afterwards.
PRESENTED = ("team", "assignee", "customer")


def lock_presented_conversation(conversation_id: int, **annotations: Any) -> Conversation:
    """The conversation row, locked, with the rows its events present read in the same
    statement but not locked (`of=self`): a reply must not wait on its team's, agent's or
    customer's row, which every other conversation of theirs shares. `annotations`: what else
    the caller needs to know under the lock, answered by the same statement."""
    if not annotations:
        found: Conversation | None = _presented_conversation.first(int(conversation_id))
        if found is None:
            raise Conversation.DoesNotExist("No such conversation.")
        return found
    return _presented_conversation_query(conversation_id).annotate(**annotations).get()


def _presented_conversation_query(conversation_id: int) -> QuerySet[Conversation]:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related(*PRESENTED)
        .filter(pk=conversation_id)
    )


# Every agent reply takes this lock: compiled once (core/compiled.py).
_presented_conversation = CompiledOnce(_presented_conversation_query)


def _latest_conversation_query(customer_id: int) -> QuerySet[Conversation]:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related(*PRESENTED)
        .filter(customer_id=customer_id)
        .order_by("-created_at", "-pk")[:1]
    )


# Every inbound message takes this lock: compiled once (core/compiled.py).
_latest_conversation = CompiledOnce(_latest_conversation_query)


def lock_latest_conversation(customer_id: int) -> Conversation | None:
    """The customer's most recent conversation, locked (an inbound message joins or reopens it),
    with what its events present read in the same statement, unlocked (`of=self`)."""
    found: Conversation | None = _latest_conversation.first(int(customer_id))
    return found


def lock_waiting_conversations(conversation_ids: Iterable[int]) -> set[int]:
    """Of these conversations, the ones still open and unassigned, locked in id order (a batch
    claims them next)."""
    return set(
        Conversation.objects.select_for_update()
        .filter(pk__in=sorted(set(conversation_ids)), assignee__isnull=True, status=Status.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lock_agent_then_conversation(
    agent_id: int | None, conversation_id: int, *, related: Sequence[str] = ()
) -> Conversation:
    """The agent's profile (when there is an agent), then the conversation: the fixed order for
    anything that changes who works on a conversation. Returns the locked conversation."""
    if agent_id is not None:
        lock_agent(agent_id)
    return lock_conversation(conversation_id, related=related)
