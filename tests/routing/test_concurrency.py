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
from teamline.routing.actions import sweep_queues

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
