"""A call's life as the desk sees it: it rings for the agent routing chose, only that agent
can accept it, it moves one way, every step is on the conversation's timeline, and staff of
another team cannot reach it by id."""

import pytest

from teamline.calls.actions import (
    do_accept_call,
    do_end_call,
    do_mark_call_connected,
    do_open_call,
    do_set_call_held,
    do_set_call_muted,
)
from teamline.calls.models import CallMedium, CallState
from teamline.calls.queries import access_call, ringing_calls_for
from teamline.conversations.models import TimelineEvent, TimelineKind
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ringing():
    team = create_team("North")
    agent = create_agent(team=team, presence="available")
    customer = create_customer(team=team)
    message, _ = customer_says(customer, "Can I call you?")
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    call = do_open_call(conversation, medium=CallMedium.VIDEO)
    return agent, conversation, call


def test_a_waiting_call_rings_for_the_agent_its_conversation_is_assigned_to(ringing):
    agent, _conversation, call = ringing
    other = create_agent(team=create_team("South"))
    assert list(ringing_calls_for(agent)) == [call]
    assert list(ringing_calls_for(other)) == []


def test_only_the_assignee_accepts_and_only_once(ringing):
    agent, conversation, call = ringing
    colleague = create_agent(team=conversation.team)
    with pytest.raises(InvalidInput, match="not ringing for you"):
        do_accept_call(call, actor=colleague)
    with capture_events(["call.updated"]) as sent:
        accepted = do_accept_call(call, actor=agent)
    assert accepted.state == CallState.CONNECTING and accepted.agent == agent
    event, recipients = sent[0]
    assert event.customer == {
        "id": call.pk,
        "medium": "video",
        "state": "connecting",
        "answered_at": None,
        "ended_at": None,
    }
    assert f"user.{agent.pk}" in recipients.staff
    with pytest.raises(InvalidInput, match="connecting now"):
        do_accept_call(call, actor=agent)  # the stale copy: a double click


def test_hold_mute_and_end_are_on_the_timeline_and_end_is_idempotent(ringing):
    agent, conversation, call = ringing
    call = do_mark_call_connected(do_accept_call(call, actor=agent))
    assert call.answered_at is not None
    call = do_set_call_held(call, held=True, actor=agent)
    assert call.state == CallState.HELD
    call = do_set_call_held(call, held=False, actor=agent)
    call = do_set_call_muted(call, muted=True, actor=agent)
    assert call.muted
    ended = do_end_call(call, reason="the customer hung up")
    assert ended is not None and ended.state == CallState.ENDED
    assert do_end_call(call, reason="a retried status callback") is None
    events = [
        row.data["event"]
        for row in TimelineEvent.objects.filter(
            conversation=conversation, kind=TimelineKind.CALL
        ).order_by("pk")
    ]
    assert events == ["waiting", "accepted", "connected", "held", "resumed", "muted", "ended"]


def test_staff_of_another_team_cannot_reach_the_call_by_id(ringing):
    agent, _conversation, call = ringing
    outsider = create_agent(team=create_team("South"))
    assert access_call(agent, str(call.pk)) == call
    with pytest.raises(NotFound):
        access_call(outsider, call.pk)
    with pytest.raises(NotFound):
        access_call(agent, "not-a-number")


def test_someone_else_cannot_hold_or_mute_the_agents_call(ringing):
    agent, conversation, call = ringing
    call = do_mark_call_connected(do_accept_call(call, actor=agent))
    colleague = create_agent(team=conversation.team)
    with pytest.raises(InvalidInput):
        do_set_call_held(call, held=True, actor=colleague)
    with pytest.raises(InvalidInput):
        do_set_call_muted(call, muted=True, actor=colleague)
