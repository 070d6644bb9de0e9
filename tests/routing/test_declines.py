"""An agent who declines work routing offered them gets the rest of the queue, never that item
again; the customer keeps their place; an explicit transfer may still give it to them."""

from __future__ import annotations

import pytest

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import Presence
from teamline.conversations.models import TimelineEvent, TimelineKind
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.routing.actions import offer_waiting_work
from teamline.routing.declines import do_decline_work
from teamline.routing.models import WorkItem, WorkState
from teamline.routing.transfers import do_transfer_conversation

pytestmark = pytest.mark.django_db


def conversation_of(team, name):
    message, _ = customer_says(create_customer(team=team, name=name), "Hello")
    conversation = message.conversation
    conversation.refresh_from_db()
    return conversation


def live_item(conversation):
    return WorkItem.objects.get(conversation=conversation, state__in=["queued", "assigned"])


def test_a_declined_conversation_waits_in_its_place_and_is_never_offered_back():
    team = create_team("Oslo")
    kari = create_agent("kari", team=team, presence="available")
    ola = create_agent("ola", team=team)
    conversation = conversation_of(team, "Anna")
    assert conversation.assignee_id == kari.pk
    before = live_item(conversation)

    do_decline_work(conversation, kari, reason="rejected")

    conversation.refresh_from_db()
    item = live_item(conversation)
    assert conversation.assignee_id is None and item.state == WorkState.QUEUED
    assert (item.enqueued_at, item.rank_at) == (before.enqueued_at, before.rank_at)
    assert conversation.waiting_since == before.enqueued_at
    assert offer_waiting_work(kari) == 0
    row = TimelineEvent.objects.filter(conversation=conversation, kind=TimelineKind.UNASSIGNED)
    assert row.get().data == {"agent_id": kari.pk, "reason": "rejected", "declined": True}

    # Anyone else may take it; an explicit transfer may even give it back to Kari.
    do_set_presence(ola, Presence.AVAILABLE, actor=ola)
    conversation.refresh_from_db()
    assert conversation.assignee_id == ola.pk
    do_transfer_conversation(conversation, actor=ola, to_agent=kari, note="She knows this one")
    conversation.refresh_from_db()
    assert conversation.assignee_id == kari.pk


def test_only_the_assignee_can_decline():
    team = create_team("Oslo")
    create_agent("kari", team=team, presence="available")
    other = create_agent("ola", team=team)
    conversation = conversation_of(team, "Anna")
    with pytest.raises(InvalidInput, match="no longer offered to you"):
        do_decline_work(conversation, other, reason="rejected")
