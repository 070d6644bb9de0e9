"""Assignment is race-free: many simultaneous contacts and routers never double-assign a
conversation nor push an agent past their capacity (SQLite here, PostgreSQL in integration)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from teamline.accounts.actions import do_set_presence
from teamline.conversations.models import Conversation, TimelineEvent
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    customer_says,
)
from teamline.routing.tick import sweep_queues

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def run_concurrently(functions):
    barrier = threading.Barrier(len(functions))
    errors = []

    def worker(fn):
        try:
            barrier.wait()
            fn()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_simultaneous_new_conversations_respect_capacity_and_single_assignment():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    agents = [
        create_agent(f"agent{i}", team=oslo, presence="available", capacity={"chat": 2})
        for i in range(3)
    ]
    customers = [create_customer(team=oslo) for _ in range(16)]

    run_concurrently(
        [lambda c=c: customer_says(c, "Is the network down?", inbox=inbox) for c in customers]
    )

    conversations = Conversation.objects.filter(team=oslo)
    assert conversations.count() == 16
    load = Counter(c.assignee_id for c in conversations if c.assignee_id)
    assert set(load) <= {a.pk for a in agents}
    assert all(count <= 2 for count in load.values()), load
    assert sum(load.values()) == 6  # every free seat filled, nobody over capacity
    # No conversation was assigned twice.
    assignments = Counter(
        TimelineEvent.objects.filter(kind="assigned").values_list("conversation_id", flat=True)
    )
    assert all(count == 1 for count in assignments.values())
    assert conversations.filter(assignee__isnull=True, waiting_since__isnull=False).count() == 10


def test_agents_coming_online_while_sweeps_run_never_overfill():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    agents = [create_agent(f"late{i}", team=oslo, capacity={"chat": 3}) for i in range(4)]
    for _ in range(10):
        customer_says(create_customer(team=oslo), "Hello?", inbox=inbox)
    assert not Conversation.objects.filter(assignee__isnull=False).exists()

    jobs = [lambda a=a: do_set_presence(a, "available", actor=a) for a in agents]
    jobs += [sweep_queues, sweep_queues]
    run_concurrently(jobs)

    load = Counter(
        Conversation.objects.filter(assignee__isnull=False).values_list("assignee_id", flat=True)
    )
    assert sum(load.values()) == 10
    assert all(count <= 3 for count in load.values()), load
    assignments = Counter(
        TimelineEvent.objects.filter(kind="assigned").values_list("conversation_id", flat=True)
    )
    assert all(count == 1 for count in assignments.values())


def test_concurrent_routers_with_overflow_and_ticks_never_double_assign():
    """Arrivals, agents coming online, and ticks that push items to overflow, all at once:
    every conversation has at most one assignment, nobody exceeds capacity, and the work items
    agree with the conversations."""
    from datetime import timedelta

    from django.utils import timezone

    from teamline.routing.models import WorkItem

    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    inbox = create_inbox(oslo)
    oslo_agents = [create_agent(team=oslo, capacity={"chat": 2}) for _ in range(2)]
    bergen_agents = [create_agent(team=bergen, capacity={"chat": 2}) for _ in range(2)]
    for _ in range(6):
        customer_says(create_customer(team=oslo), "Hello?", inbox=inbox)
    later = timezone.now() + timedelta(seconds=200)  # past the home team's 180 s

    newcomers = [create_customer(team=oslo) for _ in range(6)]
    jobs = [lambda c=c: customer_says(c, "Hi", inbox=inbox) for c in newcomers]
    jobs += [
        lambda a=a: do_set_presence(a, "available", actor=a) for a in oslo_agents + bergen_agents
    ]
    jobs += [lambda: sweep_queues(now=later) for _ in range(3)]
    run_concurrently(jobs)
    sweep_queues(now=later + timedelta(seconds=1))

    conversations = Conversation.objects.filter(team=oslo)
    load = Counter(c.assignee_id for c in conversations if c.assignee_id)
    assert all(count <= 2 for count in load.values()), load
    assert sum(load.values()) == 8  # four agents, two seats each: every seat filled
    assignments = Counter(
        TimelineEvent.objects.filter(kind="assigned").values_list("conversation_id", flat=True)
    )
    assert all(count == 1 for count in assignments.values()), assignments
    for conversation in conversations:
        live = WorkItem.objects.filter(conversation=conversation, state__in=["queued", "assigned"])
        assert live.count() == 1
        expected = "assigned" if conversation.assignee_id else "queued"
        assert live.get().state == expected
        if conversation.assignee_id:
            assert live.get().assignee_id == conversation.assignee_id
