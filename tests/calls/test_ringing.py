"""A call rings for the agent routing chose. They may reject it, or not answer in time: either
way the caller goes back to the line in the same place, the call is not offered to that agent
again, and a colleague's phone rings. The agent on a call can hand it over (transfer), and after
a call they wrap up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, Presence
from teamline.calls.actions import (
    do_accept_call,
    do_end_call,
    do_mark_call_connected,
    do_reject_call,
    do_ring_timeouts,
    do_transfer_call,
)
from teamline.calls.models import CallState
from teamline.calls.queries import ringing_calls_for
from teamline.conversations.models import TimelineEvent, TimelineKind
from teamline.core.errors import InvalidInput
from teamline.core.periodic import periodic_jobs
from teamline.core.testing import capture_events, create_agent, create_customer, create_team
from teamline.routing.models import WorkItem, WorkState

from .support import phone_call, recording_phone_control, voice_inbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def control():
    with recording_phone_control() as recording:
        yield recording


@pytest.fixture
def oslo():
    team = create_team("Oslo")
    return {
        "team": team,
        "inbox": voice_inbox(team),
        "kari": create_agent("kari", team=team, display_name="Kari Nordmann", presence="available"),
        "ola": create_agent("ola", team=team, display_name="Ola Hansen", presence="busy"),
    }


def call_from(oslo, name: str, number: str, **kwargs):
    customer = create_customer(team=oslo["team"], name=name)
    return phone_call(oslo["inbox"], customer, number, **kwargs)


def item_of(call):
    return WorkItem.objects.get(conversation=call.conversation_id, state__in=["queued", "assigned"])


def call_events(call):
    return [
        row.data
        for row in TimelineEvent.objects.filter(
            conversation=call.conversation_id, kind=TimelineKind.CALL
        ).order_by("pk")
    ]


def test_a_rejected_call_keeps_its_place_and_is_not_offered_to_the_same_agent_again(oslo):
    kari, ola = oslo["kari"], oslo["ola"]
    first = call_from(oslo, "Anna Berg", "+4791000001")
    assert list(ringing_calls_for(kari)) == [first]
    second = call_from(oslo, "Per Dahl", "+4791000002")  # Kari has one call ringing: it waits
    assert item_of(second).state == WorkState.QUEUED
    before = item_of(first)

    # Kari's desk hears that the conversation left her and why the call changed; then that
    # the next caller is hers.
    expected = ["assignment.changed", "call.updated", "conversation.updated", "assignment.changed"]
    with capture_events(expected) as sent:
        rejected = do_reject_call(first, actor=kari)

    assert rejected.state == CallState.WAITING  # the caller is still on the line
    after = item_of(first)
    assert after.state == WorkState.QUEUED
    assert (after.enqueued_at, after.rank_at) == (before.enqueued_at, before.rank_at)
    assert after.declined_by == [kari.pk]
    # Kari is free again: the next caller rings for her, never the one she rejected.
    assert list(ringing_calls_for(kari)) == [second]
    assert f"user.{kari.pk}" in sent[1][1].staff
    assert call_events(first)[-1] == {
        "call_id": first.pk,
        "medium": "phone",
        "event": "rejected",
        "agent_id": kari.pk,
        "agent": "Kari Nordmann",
        "reason": "rejected",
    }

    # Ola comes back: the first caller is still first in line and rings for him.
    do_set_presence(ola, Presence.AVAILABLE, actor=ola)
    assert list(ringing_calls_for(ola)) == [first]


def test_only_the_agent_it_rings_for_can_reject_a_call(oslo):
    call = call_from(oslo, "Anna Berg", "+4791000001")
    with pytest.raises(InvalidInput, match="no longer offered to you"):
        do_reject_call(call, actor=oslo["ola"])
    accepted = do_accept_call(call, actor=oslo["kari"])
    with pytest.raises(InvalidInput, match="connecting now"):
        do_reject_call(accepted, actor=oslo["kari"])


def test_a_call_nobody_answers_goes_to_a_colleague_on_the_next_tick_and_the_agent_is_away(
    oslo, settings
):
    kari, ola = oslo["kari"], oslo["ola"]
    settings.TEAMLINE = {**settings.TEAMLINE, "CALL_RING_SECONDS": 20}
    start = timezone.now()
    call = call_from(oslo, "Anna Berg", "+4791000001", now=start)
    place = item_of(call).rank_at
    do_set_presence(ola, Presence.AVAILABLE, actor=ola)  # free, but the call rings for Kari

    assert do_ring_timeouts(now=start + timedelta(seconds=19)) == 0
    assert list(ringing_calls_for(kari)) == [call]

    assert do_ring_timeouts(now=start + timedelta(seconds=21)) == 1
    assert list(ringing_calls_for(kari)) == []
    assert list(ringing_calls_for(ola)) == [call]
    assert AgentProfile.objects.get(user=kari).presence == Presence.AWAY
    assert item_of(call).rank_at == place
    assert call_events(call)[-1]["reason"] == "no answer"
    # A tick later nothing more happens to it (it rings for Ola from now on).
    assert do_ring_timeouts(now=start + timedelta(seconds=22)) == 0


def test_the_ring_timeout_runs_with_the_periodic_jobs():
    assert "call_ring_timeouts" in [name for name, _task in periodic_jobs()]


def test_a_transferred_call_rings_for_the_new_agent_and_the_customer_stays_on_the_line(
    oslo, control
):
    kari, ola = oslo["kari"], oslo["ola"]
    do_set_presence(ola, Presence.AVAILABLE, actor=ola)
    call = call_from(oslo, "Anna Berg", "+4791000001")
    assert call.conversation.assignee_id == kari.pk
    call = do_mark_call_connected(do_accept_call(call, actor=kari))
    with pytest.raises(InvalidInput, match="transfer note"):
        do_transfer_call(call, actor=kari, to_agent=ola, note=" ")
    call.refresh_from_db()
    assert call.state == CallState.ACTIVE  # nothing changed

    moved = do_transfer_call(call, actor=kari, to_agent=ola, note="Roaming question")

    assert moved.state == CallState.WAITING and moved.agent_id is None
    assert list(ringing_calls_for(ola)) == [moved]
    assert control.asked[-1] == ("released", call.pk)
    assert call_events(call)[-1]["event"] == "transferred"


def test_after_a_call_the_agent_wraps_up(oslo):
    kari = oslo["kari"]
    AgentProfile.objects.filter(user=kari).update(wrap_up_seconds=45)
    call = do_mark_call_connected(
        do_accept_call(call_from(oslo, "Anna Berg", "+4791000001"), actor=kari)
    )
    ended_at = timezone.now()
    do_end_call(call, reason="the agent ended the call", actor=kari, now=ended_at)
    profile = AgentProfile.objects.get(user=kari)
    assert profile.wrap_up_until == ended_at + timedelta(seconds=45)


def test_a_call_on_a_conversation_the_agent_already_had_rings_for_its_full_time(oslo, settings):
    """Kari has had Anna's chat for an hour; Anna now calls: the ring time counts from the
    call, not from when the chat was assigned."""
    from teamline.calls.actions import do_open_call
    from teamline.calls.models import CallMedium
    from teamline.core.testing import customer_says

    settings.TEAMLINE = {**settings.TEAMLINE, "CALL_RING_SECONDS": 20}
    kari = oslo["kari"]
    message, _ = customer_says(create_customer(team=oslo["team"], name="Anna Berg"), "Hi")
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.assignee_id == kari.pk
    an_hour_ago = timezone.now() - timedelta(hours=1)
    WorkItem.objects.filter(conversation=conversation).update(assigned_at=an_hour_ago)
    start = timezone.now()
    call = do_open_call(conversation, medium=CallMedium.AUDIO, now=start)

    assert do_ring_timeouts(now=start + timedelta(seconds=10)) == 0
    assert list(ringing_calls_for(kari)) == [call]
    assert do_ring_timeouts(now=start + timedelta(seconds=21)) == 1
