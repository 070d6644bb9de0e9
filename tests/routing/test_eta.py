"""Queue position and estimated wait: "you are 2nd in line, about 10 minutes"."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.conversations.actions import do_change_status
from teamline.core.events import EventType
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)
from teamline.routing.eta import push_queue_updates, queue_status
from teamline.routing.models import WorkItem, WorkState
from teamline.teams.models import BusinessHours
from tests.connectors.support import run_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # push dedupe and throttles live in the cache
    yield
    cache.clear()


def waiting(team, name):
    conversation = customer_says(create_customer(team=team, name=name), "Hello?")[0].conversation
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def oslo():
    team = create_team("Oslo")
    create_agent("kari", team=team, presence="available", capacity={"chat": 1, "voice": 1})
    return team


def test_position_and_eta_of_a_small_queue(oslo):
    first = waiting(oslo, "Astrid")  # Kari takes it
    second, third = waiting(oslo, "Bodil"), waiting(oslo, "Cato")
    now = timezone.now()

    assert first.assignee is not None
    assert queue_status(first, now) is None
    # One agent, one chat at a time, no handle times yet: 5 minutes per place in line.
    assert (queue_status(second, now).position, queue_status(second, now).eta_seconds) == (1, 300)
    assert (queue_status(third, now).position, queue_status(third, now).eta_seconds) == (2, 600)


def test_eta_follows_recent_handle_times_and_the_agents_serving(oslo):
    now = timezone.now()
    for minutes in (2, 4, 6):  # three chats handled in the last hour: 4 minutes on average
        item = WorkItem.objects.create(
            channel_kind="chat",
            home_team=oslo,
            state=WorkState.DONE,
            assigned_at=now - timedelta(minutes=30),
            closed_at=now - timedelta(minutes=30 - minutes),
        )
        assert item.pk
    waiting(oslo, "Astrid")
    second, third = waiting(oslo, "Bodil"), waiting(oslo, "Cato")
    assert queue_status(third, now).eta_seconds == 2 * 240

    create_agent("ola", team=oslo, presence="busy", capacity={"chat": 1})  # online, busy
    assert queue_status(second, now).eta_seconds == 120
    assert queue_status(third, now).eta_seconds == 240


def test_the_eta_moves_up_when_an_item_ahead_is_assigned(oslo, django_capture_on_commit_callbacks):
    first = waiting(oslo, "Astrid")
    second, third = waiting(oslo, "Bodil"), waiting(oslo, "Cato")
    kari = first.assignee
    cache.clear()  # assignment pushes are debounced to one per second; the tick does the rest
    push_queue_updates(timezone.now())  # the tick told them their places

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_change_status(first, "resolved", actor=kari)
        run_tasks()  # the task worker pushes the new places

    second.refresh_from_db()
    assert second.assignee == kari
    now = timezone.now()
    assert queue_status(third, now).position == 1
    pushed = {
        recipients.customer: event.customer
        for event, recipients in events
        if event.type == EventType.QUEUE_UPDATED
    }
    assert pushed[frozenset({f"customer.{second.customer_id}"})] == {"queue": None}
    assert pushed[frozenset({f"customer.{third.customer_id}"})]["queue"]["position"] == 1


def test_each_tick_pushes_only_changes(oslo, django_capture_on_commit_callbacks):
    waiting(oslo, "Astrid")
    second = waiting(oslo, "Bodil")
    now = timezone.now()
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        assert push_queue_updates(now) == 1
        assert push_queue_updates(now) == 0  # nothing changed: nothing sent
    ((event, recipients),) = events
    assert event.customer == {
        "queue": {
            "position": 1,
            "eta_seconds": 300,
            "kind": "conversation",
            "serving": True,
            "answer_from": None,
        }
    }
    assert recipients.customer == {f"customer.{second.customer_id}"}
    assert recipients.staff == frozenset()


def test_a_closed_team_gives_the_honest_promise(oslo):
    kari = oslo.members.get()
    do_set_presence(kari, "offline", actor=kari)
    # Open on weekdays 09:00-17:00 (Oslo time), so always closed at some point: pick a Sunday.
    for weekday in range(5):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="09:00", closes="17:00")
    conversation = waiting(oslo, "Astrid")
    now = timezone.now()
    sunday = now + timedelta(days=(6 - now.weekday()) % 7)
    sunday = sunday.replace(hour=12)
    status = queue_status(conversation, sunday)
    assert status.serving is False
    assert status.answer_from == "09:00 tomorrow"
    assert status.eta_seconds is not None and status.eta_seconds > 19 * 3600


def test_callers_on_hold_share_their_teams_estimate_for_a_moment(oslo):
    waiting(oslo, "Astrid")  # Kari takes it
    second, third = waiting(oslo, "Bodil"), waiting(oslo, "Cato")
    now = timezone.now()

    asked_first = queue_status(second, now, shared_estimate=True)
    with CaptureQueriesContext(connection) as asked_next:
        status = queue_status(third, now, shared_estimate=True)

    # The second asker reuses the team's figures: only the item and its position are read.
    assert (asked_first.position, asked_first.eta_seconds) == (1, 300)
    assert (status.position, status.eta_seconds) == (2, 600)
    assert len(asked_next.captured_queries) == 3
    # A second agent comes online: the shared figures are at most SHARED_ESTIMATE_SECONDS old,
    # the fresh view (the desk, the widget) sees the change at once.
    create_agent("ola", team=oslo, presence="busy", capacity={"chat": 1})
    assert queue_status(third, now, shared_estimate=True).eta_seconds == 600
    assert queue_status(third, now).eta_seconds == 300
    cache.clear()  # the moment has passed
    assert queue_status(third, now, shared_estimate=True).eta_seconds == 300


def test_a_shared_closed_teams_estimate_keeps_counting_down(oslo):
    kari = oslo.members.get()
    do_set_presence(kari, "offline", actor=kari)
    for weekday in range(5):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="09:00", closes="17:00")
    conversation = waiting(oslo, "Astrid")
    now = timezone.now()
    sunday = (now + timedelta(days=(6 - now.weekday()) % 7)).replace(hour=12)

    first = queue_status(conversation, sunday, shared_estimate=True)
    later = queue_status(conversation, sunday + timedelta(seconds=1), shared_estimate=True)

    assert first.serving is False and later.serving is False
    assert later.answer_from == first.answer_from == "09:00 tomorrow"
    assert later.eta_seconds == first.eta_seconds - 1


def test_assignment_pushes_are_debounced_across_teams(monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from teamline.routing import eta
    from teamline.routing.tasks import push_queue_positions

    def pushes():
        return [
            row.args_kwargs["kwargs"]["team_ids"]
            for row in DBTaskResult.objects.filter(
                task_path=push_queue_positions.module_path
            ).order_by("enqueued_at", "id")
        ]

    monkeypatch.setattr(eta, "_pending_teams", set())
    monkeypatch.setattr(eta.time, "time", lambda: 1000.0)
    now = timezone.now()
    eta.after_assignment([1], now)
    eta.after_assignment([2], now)  # same second: no second snapshot
    assert pushes() == [[1]]  # for the task worker: the assigning transaction does not wait
    monkeypatch.setattr(eta.time, "time", lambda: 1001.0)
    eta.after_assignment([3], now)  # the next second: one push for what is pending
    assert pushes() == [[1], [2, 3]]
