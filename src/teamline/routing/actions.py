"""First routing: the customer's last agent, else their home team's longest-idle free member,
else the team queue (offered as soon as somebody becomes available or frees capacity).

This module is the seam: other apps call only `route_conversation`, `offer_waiting_work` and
`sweep_queues`. The full routing engine replaces what is behind them.

Race-freedom (SQLite and PostgreSQL): a claim locks the agent's profile row first
(select_for_update; on SQLite the IMMEDIATE transaction holds the database write lock), counts
the agent's open work under that lock, then claims the conversation with a conditional UPDATE
(`assignee IS NULL AND status = open`). Lock order is always agent → conversation → customer,
so two routers can neither give one conversation to two agents nor one agent more than their
capacity.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from teamline.accounts.models import AgentProfile, Presence, User
from teamline.conversations.models import Conversation, Status, TimelineKind
from teamline.core.events import EventType

logger = logging.getLogger(__name__)


def _candidates(conversation: Conversation) -> list[tuple[int, str]]:
    """(agent user id, reason) in the order they should be tried."""
    candidates: list[tuple[int, str]] = []
    last_agent_id = conversation.customer.last_agent_id
    if last_agent_id:
        candidates.append((last_agent_id, "last agent"))
    members = (
        AgentProfile.objects.filter(
            presence=Presence.AVAILABLE,
            user__is_active=True,
            user__teams=conversation.team_id,
        )
        .order_by(F("last_assigned_at").asc(nulls_first=True), "presence_changed_at", "pk")
        .values_list("user_id", flat=True)
    )
    candidates.extend(
        (user_id, "home team, longest idle") for user_id in members if user_id != last_agent_id
    )
    return candidates


ASSIGNED = "assigned"
UNAVAILABLE = "unavailable"
FULL = "full"
TAKEN = "taken"


def try_assign(conversation_id: int, agent_id: int, *, reason: str) -> bool:
    return claim(conversation_id, agent_id, reason=reason) == ASSIGNED


def claim(conversation_id: int, agent_id: int, *, reason: str) -> str:
    """Claim one waiting conversation for one agent if they are available with free capacity.
    Returns ASSIGNED, or why not: UNAVAILABLE, FULL (for that channel kind) or TAKEN.

    Locks: agent profile, then conversation (conditional UPDATE), then customer.
    Emits assignment.changed and conversation.updated; records `assigned` with the reason.
    """
    from teamline.conversations.actions import emit_conversation, record

    with transaction.atomic():
        profile = (
            AgentProfile.objects.select_for_update()
            .filter(user_id=agent_id, presence=Presence.AVAILABLE, user__is_active=True)
            .first()
        )
        if profile is None:
            return UNAVAILABLE
        conversation = (
            Conversation.objects.select_related("customer", "team")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            return TAKEN
        active = Conversation.objects.filter(
            assignee_id=agent_id, status=Status.OPEN, channel_kind=conversation.channel_kind
        ).count()
        if active >= profile.capacity_for(conversation.channel_kind):
            return FULL
        now = timezone.now()
        claimed = Conversation.objects.filter(
            pk=conversation_id, assignee__isnull=True, status=Status.OPEN
        ).update(assignee_id=agent_id, waiting_since=None, updated_at=now)
        if not claimed:
            return TAKEN
        AgentProfile.objects.filter(pk=profile.pk).update(last_assigned_at=now)
        conversation.customer.__class__.objects.filter(pk=conversation.customer_id).update(
            last_agent_id=agent_id
        )
        conversation.refresh_from_db()
        record(conversation, TimelineKind.ASSIGNED, agent_id=agent_id, reason=reason)
        emit_conversation(conversation, EventType.ASSIGNMENT_CHANGED)
    return ASSIGNED


def route_conversation(conversation: Conversation) -> int | None:
    """Find an agent for a new or reopened conversation; queue it if nobody is free.

    Returns the assignee's id, or None when the conversation waits in its team's queue.
    """
    from teamline.conversations.actions import emit_conversation, record

    conversation = Conversation.objects.select_related("customer", "team").get(pk=conversation.pk)
    if conversation.assignee_id or conversation.status != Status.OPEN:
        return conversation.assignee_id
    for agent_id, reason in _candidates(conversation):
        if try_assign(conversation.pk, agent_id, reason=reason):
            return agent_id
    with transaction.atomic():
        record(conversation, TimelineKind.QUEUED, reason=f"nobody free in {conversation.team.name}")
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED)
    return None


def offer_waiting_work(agent: User) -> int:
    """Give an agent who became available or freed capacity the oldest waiting work of the
    teams they are a member of, until they are full. Returns how many they received."""
    received = 0
    full_kinds: set[str] = set()
    team_ids = list(agent.teams.values_list("pk", flat=True))
    waiting = (
        Conversation.objects.filter(team_id__in=team_ids, status=Status.OPEN, assignee__isnull=True)
        .order_by("-priority", F("waiting_since").asc(nulls_last=True), "pk")
        .values_list("pk", "channel_kind")
    )
    for conversation_id, kind in waiting:
        if kind in full_kinds:
            continue
        outcome = claim(conversation_id, agent.pk, reason="waiting in team queue")
        if outcome == ASSIGNED:
            received += 1
        elif outcome == FULL:
            full_kinds.add(kind)
        elif outcome == UNAVAILABLE:
            break
    return received


def sweep_queues() -> int:
    """Periodic safety net: offer every waiting conversation again (covers a router that died
    between commit and decision, or capacity freed by a path that did not offer). Returns the
    number of assignments made."""
    assigned = 0
    waiting = Conversation.objects.filter(
        Q(status=Status.OPEN) & Q(assignee__isnull=True)
    ).order_by("-priority", "waiting_since", "pk")
    for conversation in waiting.select_related("customer", "team"):
        for agent_id, reason in _candidates(conversation):
            if try_assign(conversation.pk, agent_id, reason=f"{reason} (sweep)"):
                assigned += 1
                break
    return assigned


def do_assign_conversation(
    conversation: Conversation, agent: User, *, actor: User | None, reason: str
) -> Conversation:
    """Explicit assignment (a supervisor's reassign, seeding, later transfers): not bound by
    presence or capacity, but the agent must be a member of the conversation's team.

    Locks agent profile, then conversation. Emits assignment.changed; records `assigned`.
    """
    from teamline.conversations.actions import emit_conversation, record
    from teamline.core.errors import InvalidInput

    if not agent.teams.filter(pk=conversation.team_id).exists():
        raise InvalidInput(f"{agent.name} is not a member of {conversation.team.name}.")
    with transaction.atomic():
        AgentProfile.objects.select_for_update().filter(user=agent).first()
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = conv.assignee_id
        conv.assignee = agent
        conv.waiting_since = None
        conv.updated_at = timezone.now()
        conv.save(update_fields=["assignee", "waiting_since", "updated_at"])
        conv.customer.__class__.objects.filter(pk=conv.customer_id).update(last_agent=agent)
        record(
            conv,
            TimelineKind.ASSIGNED,
            actor=actor,
            agent_id=agent.pk,
            previous=previous,
            reason=reason,
        )
        emit_conversation(conv, EventType.ASSIGNMENT_CHANGED)
    conversation.refresh_from_db()
    return conversation
