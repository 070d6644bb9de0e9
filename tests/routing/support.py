"""Helpers for routing scenarios: conversations that arrive at a chosen instant and priority,
policies built like an admin builds them, and a look at where an item waits."""

from __future__ import annotations

import uuid
from datetime import datetime

from teamline.conversations.models import Conversation, Inbox, Message, TimelineEvent
from teamline.core.testing import create_inbox
from teamline.customers.models import Customer
from teamline.routing.actions import route_conversation
from teamline.routing.models import RoutingPolicy, RoutingStep, WorkItem, WorkState
from teamline.teams.models import Team


def arrives(
    customer: Customer,
    *,
    inbox: Inbox | None = None,
    at: datetime | None = None,
    priority: int = 0,
    channel_kind: str = "chat",
) -> Conversation:
    """A new contact from the customer, routed at `at` (the seam the channels call)."""
    team = customer.home_team
    assert team is not None
    inbox = inbox or Inbox.objects.filter(default_team=team).first() or create_inbox(team)
    conversation = Conversation.objects.create(
        customer=customer,
        inbox=inbox,
        team=team,
        channel="webchat",
        channel_kind=channel_kind,
        priority=priority,
        waiting_since=at,
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        sender_kind="customer",
        channel="webchat",
        text="Hello?",
        external_id=uuid.uuid4().hex,
    )
    route_conversation(conversation, now=at)
    conversation.refresh_from_db()
    return conversation


def policy(inbox: Inbox | None, *steps: dict, **fields) -> RoutingPolicy:
    """A policy as an admin would configure it: policy(inbox, {"kind": "home_team", …}, …)."""
    row = RoutingPolicy.objects.create(
        inbox=inbox, name=fields.pop("name", "Test policy"), **fields
    )
    for position, spec in enumerate(steps):
        spec = dict(spec)
        targets: list[Team] = spec.pop("target_teams", [])
        step = RoutingStep.objects.create(policy=row, position=position, **spec)
        step.target_teams.set(targets)
    return row


def work_item(conversation: Conversation) -> WorkItem:
    return WorkItem.objects.filter(conversation=conversation).order_by("-pk").first()  # type: ignore[return-value]


def queued(conversation: Conversation) -> bool:
    return work_item(conversation).state == WorkState.QUEUED


def timeline(conversation: Conversation, kind: str) -> list[dict]:
    return [
        event.data
        for event in TimelineEvent.objects.filter(conversation=conversation, kind=kind).order_by(
            "pk"
        )
    ]


def speaks_and_knows(agent, *, languages=(), skills=None, wrap_up_seconds=None):
    """Give an agent languages and skills (proficiency 1-5), as an admin does in the profile."""
    from teamline.accounts.models import AgentProfile

    changes: dict = {"languages": list(languages), "skills": skills or {}}
    if wrap_up_seconds is not None:
        changes["wrap_up_seconds"] = wrap_up_seconds
    AgentProfile.objects.filter(user=agent).update(**changes)
    return agent
