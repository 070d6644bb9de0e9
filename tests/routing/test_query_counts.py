"""One routing decision costs the same number of queries with 10 or 1,000 items queued."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from teamline.accounts.actions import do_set_presence
from teamline.conversations.models import Conversation
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from teamline.routing import engine
from teamline.routing.actions import offer_waiting_work, route_conversation
from teamline.routing.models import QueueEntry, WorkItem
from teamline.routing.tick import sweep_queues

from .support import arrives

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def fill_queue(team, count):
    """`count` chats waiting in the team's queue (bulk, as if they arrived over the last hour)."""
    inbox = create_inbox(team)
    customer = create_customer(team=team)
    conversations = Conversation.objects.bulk_create(
        Conversation(
            customer=customer, inbox=inbox, team=team, channel="webchat", channel_kind="chat"
        )
        for _ in range(count)
    )
    items = WorkItem.objects.bulk_create(
        WorkItem(
            conversation=conversation,
            customer=customer,
            channel_kind="chat",
            home_team=team,
            step_index=1,
            step_kind="home_team",
            enqueued_at=MONDAY_10 - timedelta(seconds=i),
            rank_at=engine.rank_at(MONDAY_10 - timedelta(seconds=i), "chat", 0, False),
            next_check_at=MONDAY_10 + timedelta(hours=1),
            version=1,
        )
        for i, conversation in enumerate(conversations)
    )
    QueueEntry.objects.bulk_create(
        QueueEntry(work_item=item, team=team, channel_kind="chat", rank_at=item.rank_at)
        for item in items
    )


def queries_for(action):
    # Assignment pushes are debounced per second through the cache: start every measurement
    # in the same state, whatever second it falls in.
    cache.clear()
    with CaptureQueriesContext(connection) as context:
        action()
    return len(context.captured_queries)


def routing_world(queued):
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent(team=oslo, presence="available", capacity={"chat": 50, "voice": 1})
    bjorn = create_agent(team=bergen, capacity={"chat": 1})
    fill_queue(bergen, queued)
    return oslo, bergen, bjorn


def one_item_driven_decision(queued):
    oslo, _bergen, _bjorn = routing_world(queued)
    arrives(create_customer(team=oslo), at=MONDAY_10)  # warm up (policy defaults, caches)
    customer = create_customer(team=oslo)
    conversation = Conversation.objects.create(
        customer=customer,
        inbox=create_inbox(oslo),
        team=oslo,
        channel="webchat",
        channel_kind="chat",
    )
    count = queries_for(lambda: route_conversation(conversation, now=MONDAY_10))
    conversation.refresh_from_db()
    assert conversation.assignee is not None
    return count


def one_queued_decision(queued):
    oslo, _bergen, _bjorn = routing_world(queued)
    customer = create_customer(team=oslo)
    conversation = Conversation.objects.create(
        customer=customer,
        inbox=create_inbox(oslo),
        team=oslo,
        channel="webchat",
        channel_kind="voice",  # Kari's voice capacity is taken below: it must wait
    )
    arrives(create_customer(team=oslo), at=MONDAY_10, channel_kind="voice")
    count = queries_for(lambda: route_conversation(conversation, now=MONDAY_10))
    conversation.refresh_from_db()
    assert conversation.assignee is None
    return count


def one_agent_driven_decision(queued):
    _oslo, _bergen, bjorn = routing_world(queued)
    from teamline.accounts.models import AgentProfile

    AgentProfile.objects.filter(user=bjorn).update(presence="available")
    count = queries_for(lambda: offer_waiting_work(bjorn, now=MONDAY_10))
    assert bjorn.assigned_conversations.count() == 1
    return count


@pytest.mark.parametrize(
    "decision", [one_item_driven_decision, one_queued_decision, one_agent_driven_decision]
)
def test_queries_per_decision_do_not_grow_with_the_queue(decision):
    small = decision(10)
    large = decision(1000)
    print(decision.__name__, small, large)
    assert small == large, (small, large)
    assert small <= 40


def test_a_tick_with_nothing_due_is_cheap_whatever_the_queue():
    _oslo, _bergen, bjorn = routing_world(1000)
    do_set_presence(bjorn, "away", actor=bjorn)
    # The batch router's lease is its own short transaction (a savepoint inside the test's).
    assert queries_for(lambda: sweep_queues(now=MONDAY_10)) <= 17


def center(agents, teams):
    """`agents` available agents spread over `teams` teams (chat 3, no voice capacity)."""
    all_teams = [create_team(f"Team {i}") for i in range(teams)]
    for i in range(agents):
        create_agent(
            team=all_teams[i % teams], presence="available", capacity={"chat": 3, "voice": 0}
        )
    return all_teams


def decision_in_center(agents, teams, channel_kind):
    home = center(agents, teams)[0]
    arrives(create_customer(team=home), at=MONDAY_10)  # warm up (policy defaults, caches)
    conversation = Conversation.objects.create(
        customer=create_customer(team=home),
        inbox=create_inbox(home),
        team=home,
        channel="webchat",
        channel_kind=channel_kind,
    )
    count = queries_for(lambda: route_conversation(conversation, now=MONDAY_10))
    conversation.refresh_from_db()
    # Chats are assigned at once; nobody takes voice, so the call waits (every team's pool).
    assert (conversation.assignee is not None) == (channel_kind == "chat")
    return count


@pytest.mark.parametrize("channel_kind", ["chat", "voice"])
def test_queries_per_decision_do_not_grow_with_agents_or_teams(channel_kind):
    small = decision_in_center(10, 5, channel_kind)
    large = decision_in_center(200, 20, channel_kind)
    print(channel_kind, small, large)
    assert small == large, (small, large)
    assert small <= 40
