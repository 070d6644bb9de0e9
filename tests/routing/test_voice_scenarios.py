"""Calls are work items of channel kind voice: one call at a time per agent while chats have
their own capacity, a wrap-up after a call that keeps every new contact away until it ends, an
honest wait for a queued call, overflow to another team after the home team's step time, and
limited mode ("urgent matters only") letting only urgent calls reach a human. Through the real
actions with an injected clock (tests/routing/support.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from teamline.conversations.actions import do_change_status
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import Message, Status
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from teamline.routing import engine
from teamline.routing.actions import switch_channel_kind
from teamline.routing.eta import queue_status
from teamline.routing.models import WorkItem, WorkState
from teamline.routing.tick import sweep_queues
from teamline.teams.actions import do_set_service_mode

from .support import arrives, policy, speaks_and_knows, timeline, work_item

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # 10:00 in Oslo


def seconds(n):
    return timedelta(seconds=n)


def call(customer, at, **kwargs):
    return arrives(customer, at=at, channel_kind="voice", **kwargs)


def chat(customer, at, **kwargs):
    return arrives(customer, at=at, channel_kind="chat", **kwargs)


def test_an_agent_takes_one_call_at_a_time_while_chats_have_their_own_capacity():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 2, "voice": 1})

    first_call = call(create_customer(team=oslo), MONDAY_10)
    second_call = call(create_customer(team=oslo), MONDAY_10 + seconds(5))
    chats = [chat(create_customer(team=oslo), MONDAY_10 + seconds(10 + i)) for i in range(3)]

    assert first_call.assignee == kari
    assert second_call.assignee is None  # one call at a time
    assert [c.assignee for c in chats] == [kari, kari, None]  # chats count on their own
    assert work_item(second_call).state == WorkState.QUEUED

    do_change_status(first_call, Status.RESOLVED, actor=kari)  # no wrap-up configured
    second_call.refresh_from_db()
    chats[2].refresh_from_db()
    assert second_call.assignee == kari
    assert chats[2].assignee is None  # a finished call frees voice, not chat


def test_wrap_up_after_a_call_keeps_new_calls_and_chats_away_until_it_ends():
    oslo = create_team("Oslo")
    kari = speaks_and_knows(
        create_agent("kari", team=oslo, presence="available", capacity={"chat": 2, "voice": 1}),
        wrap_up_seconds=45,
    )
    answered = call(create_customer(team=oslo), MONDAY_10)
    assert answered.assignee == kari

    do_change_status(answered, Status.RESOLVED, actor=kari)  # wrap-up from the wall clock
    ended = timezone.now()
    new_call = call(create_customer(team=oslo), ended + seconds(10))
    new_chat = chat(create_customer(team=oslo), ended + seconds(20))

    assert (new_call.assignee, new_chat.assignee) == (None, None)
    sweep_queues(now=ended + seconds(30))  # still wrapping up
    new_call.refresh_from_db()
    new_chat.refresh_from_db()
    assert (new_call.assignee, new_chat.assignee) == (None, None)

    sweep_queues(now=ended + seconds(46))
    new_call.refresh_from_db()
    new_chat.refresh_from_db()
    assert (new_call.assignee, new_chat.assignee) == (kari, kari)


def test_a_finished_chat_starts_no_wrap_up():
    oslo = create_team("Oslo")
    kari = speaks_and_knows(
        create_agent("kari", team=oslo, presence="available", capacity={"chat": 1, "voice": 1}),
        wrap_up_seconds=45,
    )
    first = chat(create_customer(team=oslo), MONDAY_10)
    waiting = chat(create_customer(team=oslo), MONDAY_10 + seconds(5))
    assert (first.assignee, waiting.assignee) == (kari, None)

    do_change_status(first, Status.RESOLVED, actor=kari)

    waiting.refresh_from_db()
    assert waiting.assignee == kari


def test_a_queued_call_is_told_its_place_and_a_wait_from_recent_call_times():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 3, "voice": 1})
    now = timezone.now()
    for minutes in (3, 5, 7):  # calls answered in the last hour: 5 minutes on average
        WorkItem.objects.create(
            channel_kind="voice",
            home_team=oslo,
            state=WorkState.DONE,
            assigned_at=now - timedelta(minutes=40),
            closed_at=now - timedelta(minutes=40 - minutes),
        )
    for minutes in (20, 20, 20):  # long chats say nothing about calls
        WorkItem.objects.create(
            channel_kind="chat",
            home_team=oslo,
            state=WorkState.DONE,
            assigned_at=now - timedelta(minutes=30),
            closed_at=now - timedelta(minutes=30 - minutes),
        )
    assert call(create_customer(team=oslo), now).assignee == kari  # Kari is on a call
    second, third = call(create_customer(team=oslo), now), call(create_customer(team=oslo), now)
    # Ola is online (busy) and takes calls too: two calls at a time, 150 s per place in line.
    create_agent("ola", team=oslo, presence="busy", capacity={"chat": 0, "voice": 1})

    assert (queue_status(second, now).position, queue_status(second, now).eta_seconds) == (1, 150)
    assert (queue_status(third, now).position, queue_status(third, now).eta_seconds) == (2, 300)


def test_a_waiting_call_is_not_counted_in_the_chat_line():
    oslo = create_team("Oslo")
    create_agent("kari", team=oslo, presence="busy", capacity={"chat": 1, "voice": 1})
    now = timezone.now()
    waiting_call = call(create_customer(team=oslo), now)
    waiting_chat = chat(create_customer(team=oslo), now + seconds(1))

    assert queue_status(waiting_call, now).position == 1
    assert queue_status(waiting_chat, now).position == 1
    # Default handle times per kind, one of each at a time: a call 4 minutes, a chat 5.
    assert queue_status(waiting_call, now).eta_seconds == 240
    assert queue_status(waiting_chat, now).eta_seconds == 300


def test_a_call_overflows_to_another_team_after_the_home_team_step_time():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    inbox = create_inbox(oslo)
    policy(
        inbox,
        {"kind": "home_team", "timeout_seconds": 120},
        {"kind": "overflow_teams", "target_teams": [bergen]},
    )
    create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    create_agent("chat_only", team=bergen, presence="available", capacity={"chat": 3, "voice": 0})
    bjorn = create_agent("bjorn", team=bergen, presence="available", capacity={"voice": 1})
    call(create_customer(team=oslo), MONDAY_10, inbox=inbox)  # Kari is on a call

    waiting = call(create_customer(team=oslo), MONDAY_10 + seconds(10), inbox=inbox)
    assert waiting.assignee is None
    sweep_queues(now=MONDAY_10 + seconds(100))
    waiting.refresh_from_db()
    assert waiting.assignee is None  # still the home team's step

    sweep_queues(now=MONDAY_10 + seconds(131))
    waiting.refresh_from_db()
    assert waiting.assignee == bjorn  # Bergen's agent who takes calls, not the chat-only one
    assert timeline(waiting, "assigned")[-1]["step"] == "2 of 2"


def test_limited_mode_lets_only_urgent_calls_reach_a_human():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1, "voice": 2})
    do_set_service_mode(oslo, "limited", until=MONDAY_10 + timedelta(hours=2))

    ordinary = call(create_customer(team=oslo), MONDAY_10)
    urgent = call(create_customer(team=oslo), MONDAY_10 + seconds(5), priority=2)
    ordinary_chat = chat(create_customer(team=oslo), MONDAY_10 + seconds(10))

    assert urgent.assignee == kari
    assert (ordinary.assignee, ordinary_chat.assignee) == (None, None)
    assert "urgent matters only" in work_item(ordinary).reason
    assert Message.objects.filter(conversation=ordinary, sender_kind="system").exists()
    # Normal service again: the ordinary call is answered.
    sweep_queues(now=MONDAY_10 + timedelta(hours=2))
    ordinary.refresh_from_db()
    assert ordinary.assignee == kari


def test_a_waiting_contact_raised_to_urgent_is_served_in_limited_mode_and_keeps_its_place():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1, "voice": 1})
    do_set_service_mode(oslo, "limited", until=MONDAY_10 + timedelta(hours=2))
    waiting = chat(create_customer(team=oslo), MONDAY_10)
    item = work_item(waiting)
    assert waiting.assignee is None

    later = MONDAY_10 + seconds(60)
    conversation = lock_conversation(waiting.pk)
    switch_channel_kind(conversation, "voice", now=later, priority=engine.URGENT)

    waiting.refresh_from_db()
    item.refresh_from_db()
    assert (waiting.assignee, waiting.priority, waiting.channel_kind) == (kari, 2, "voice")
    assert (item.state, item.priority, item.channel_kind) == (WorkState.ASSIGNED, 2, "voice")
    # Ranked from when it first arrived, with the urgent head start: never behind where it was.
    assert item.rank_at == engine.rank_at(MONDAY_10, "voice", engine.URGENT, False)


def test_switching_channel_never_lowers_a_priority():
    oslo = create_team("Oslo")
    create_agent("kari", team=oslo, presence="busy", capacity={"chat": 1, "voice": 1})
    waiting = chat(create_customer(team=oslo), MONDAY_10, priority=2)

    conversation = lock_conversation(waiting.pk)
    switch_channel_kind(conversation, "voice", now=MONDAY_10 + seconds(30))

    waiting.refresh_from_db()
    assert (waiting.priority, work_item(waiting).priority) == (2, 2)
    assert work_item(waiting).channel_kind == "voice"


def test_in_limited_mode_an_urgent_call_hears_a_wait_and_an_ordinary_one_when_all_are_answered():
    oslo = create_team("Oslo")
    create_agent("kari", team=oslo, presence="busy", capacity={"chat": 1, "voice": 1})
    now = timezone.now()
    do_set_service_mode(oslo, "limited", until=now + timedelta(hours=2))

    ordinary = call(create_customer(team=oslo), now)
    urgent = call(create_customer(team=oslo), now, priority=2)

    urgent_status, ordinary_status = queue_status(urgent, now), queue_status(ordinary, now)
    assert (urgent_status.serving, urgent_status.eta_seconds) == (True, 240)
    assert ordinary_status.serving is False
    assert ordinary_status.eta_seconds >= 2 * 3600  # not before normal service resumes
    assert ordinary_status.answer_from is not None
