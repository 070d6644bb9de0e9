"""Surge: past a team's thresholds the engine widens overflow at once and alerts supervisors;
when the queue is back under them it narrows again."""

from datetime import UTC, datetime, timedelta

import pytest

from teamline.core.events import EventType
from teamline.core.testing import capture_events, create_agent, create_customer, create_team
from teamline.routing.models import SurgeEpisode
from teamline.routing.surge import check_surges
from teamline.routing.tick import sweep_queues

from .support import arrives, timeline

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def test_surge_widens_overflow_and_narrows_when_it_passes(django_capture_on_commit_callbacks):
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    oslo.surge_queue_length = 3
    oslo.save()
    create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    bjorn = create_agent("bjorn", team=bergen, presence="available", capacity={"chat": 2})
    arrives(create_customer(team=oslo), at=MONDAY_10)  # Kari is full
    waiting = [arrives(create_customer(team=oslo), at=MONDAY_10) for _ in range(3)]
    assert all(c.assignee is None for c in waiting), "within the home team's 180 s"

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        sweep_queues(now=MONDAY_10 + timedelta(seconds=20))
    surge = [e for e, _ in events if e.type == EventType.ROUTING_SURGE]
    assert [e.staff["active"] for e in surge] == [True]
    assert surge[0].staff["team"]["name"] == "Oslo"
    assert surge[0].staff["queue_length"] == 3
    recipients = next(r for e, r in events if e.type == EventType.ROUTING_SURGE)
    assert recipients.staff == {f"team.{oslo.pk}", "admins"}

    for conversation in waiting:
        conversation.refresh_from_db()
    assert sum(c.assignee == bjorn for c in waiting) == 2, "Bjørn takes two at once"
    overflowed = next(c for c in waiting if c.assignee == bjorn)
    [assigned] = timeline(overflowed, "assigned")
    assert assigned["reason"] == "overflow (Bergen), longest idle"
    assert "team Oslo in surge" in assigned["route"]

    # One left waiting: under 80 % of the threshold, the surge ends.
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        assert check_surges(now=MONDAY_10 + timedelta(seconds=40)) == [(oslo.pk, False)]
    assert [e.staff["active"] for e, _ in events if e.type == EventType.ROUTING_SURGE] == [False]
    episode = SurgeEpisode.objects.get(team=oslo)
    assert episode.ended_at == MONDAY_10 + timedelta(seconds=40)
    assert episode.peak_queue_length == 3

    # Narrowed: a new contact waits for its home team again.
    later = arrives(create_customer(team=oslo), at=MONDAY_10 + timedelta(seconds=50))
    assert later.assignee is None
    assert later.work_items.get().step_kind == "home_team"


def test_a_long_wait_starts_a_surge_once():
    oslo = create_team("Oslo")
    oslo.surge_wait_seconds = 120
    oslo.save()
    arrives(create_customer(team=oslo), at=MONDAY_10)
    assert check_surges(now=MONDAY_10 + timedelta(seconds=60)) == []
    assert check_surges(now=MONDAY_10 + timedelta(seconds=121)) == [(oslo.pk, True)]
    assert check_surges(now=MONDAY_10 + timedelta(seconds=122)) == []  # already on
    assert SurgeEpisode.objects.filter(team=oslo, ended_at__isnull=True).count() == 1
