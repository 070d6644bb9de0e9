"""The durable task queue: periodic jobs are enqueued once per slot and the worker runs them;
a conversation left waiting (say its router died) is picked up by the sweep."""

import threading
import time

import pytest
from django_tasks_db.models import DBTaskResult

from teamline.accounts.models import AgentProfile
from teamline.conversations.models import Conversation
from teamline.core import availability
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.core.worker import enqueue_periodic, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_periodic_jobs_are_enqueued_once_per_slot():
    now = time.time()
    assert sorted(enqueue_periodic(now)) == [
        "analytics.send_due_reports",
        "apply_retention",
        "call_ring_timeouts",
        "proactive.detect_outages",
        "proactive.sweep",
        "push_queue_positions",
        "run_appointments",
        "sweep_queues",
        "sweep_sessions",
        "wake_snoozed",
        "wellbeing.sweep",
    ]
    assert enqueue_periodic(now) == []  # a second worker in the same slot enqueues nothing
    assert DBTaskResult.objects.count() == 11


def test_worker_sweep_assigns_a_conversation_its_router_left_waiting():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    message, _ = customer_says(create_customer(team=oslo))
    # Kari is marked available without the offer that normally follows (as if the process
    # making that decision died after commit).
    AgentProfile.objects.filter(user=kari).update(presence="available")

    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop, "interval": 0.05})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if Conversation.objects.filter(pk=message.conversation_id, assignee=kari).exists():
                break
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert Conversation.objects.get(pk=message.conversation_id).assignee == kari
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").exists()


def test_a_task_whose_worker_died_mid_run_is_run_again():
    from datetime import timedelta

    from django.utils import timezone

    from teamline.core.worker import requeue_stalled_tasks
    from teamline.routing.tasks import sweep_queues

    result = sweep_queues.enqueue()
    # A worker claimed it twenty minutes ago and was killed.
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(minutes=20)
    )
    fresh = sweep_queues.enqueue()
    DBTaskResult.objects.filter(pk=fresh.id).update(status="RUNNING", started_at=timezone.now())

    assert requeue_stalled_tasks() == 1
    assert DBTaskResult.objects.get(pk=result.id).status == "READY"
    assert DBTaskResult.objects.get(pk=fresh.id).status == "RUNNING"  # still being worked on


def test_the_worker_waits_quietly_while_the_database_is_unreachable(monkeypatch, caplog):
    attempts = []

    def unreachable(*args, **kwargs):
        attempts.append(time.monotonic())
        raise availability.DatabaseUnavailable("The database is unreachable.")

    monkeypatch.setattr("teamline.core.worker.enqueue_periodic", unreachable)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop})
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join(timeout=5)
    # One try, then a pause of a few seconds: not a traceback every 0.2 s.
    assert len(attempts) == 1
    assert "database is unreachable" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_worker_asks_the_cache_about_each_periodic_job_once_per_slot(monkeypatch):
    """The worker polls every 0.2 s; which worker enqueues a slot is the cache's `add`. Once
    this worker has asked about a job in a slot, it does not ask again until the next slot
    (before: 11 cache round trips every poll, idle or busy)."""
    from teamline.core import worker

    adds: list[str] = []
    cache = worker.cache

    class CountingCache:
        def add(self, key, *args, **kwargs):
            adds.append(key)
            return cache.add(key, *args, **kwargs)

    monkeypatch.setattr(worker, "cache", CountingCache())
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop, "interval": 0.02})
    thread.start()
    try:
        time.sleep(1.0)  # dozens of polls
    finally:
        stop.set()
        thread.join(timeout=10)
    jobs = len(worker.periodic_jobs())
    slots = {key.rsplit(":", 1)[1] for key in adds}
    assert len(adds) == jobs * len(slots), adds  # each job once per slot, whatever the polls
    assert len(slots) <= 2  # a 1 s run crosses at most one slot boundary
    assert DBTaskResult.objects.filter(task_path__contains="sweep").exists()


def test_a_second_worker_asks_the_cache_and_leaves_the_slot_to_the_first():
    """The memory of what was asked is per worker: another worker (its own memory) still asks
    the cache, which says the slot is taken."""
    now = time.time()
    first, second = {}, {}
    assert len(enqueue_periodic(now, asked=first)) == 11
    assert enqueue_periodic(now, asked=first) == []
    assert enqueue_periodic(now, asked=second) == []
    assert set(second) == set(first)
    assert DBTaskResult.objects.count() == 11
