"""First routing: last agent, then the home team's longest-idle free member, else the queue."""

import pytest

from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Status, TimelineEvent
from teamline.core.testing import create_agent, create_customer, create_team, customer_says

pytestmark = pytest.mark.django_db


def test_new_conversation_goes_to_the_longest_idle_available_team_member():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    create_agent("ola", team=oslo, presence="offline")
    message, created = customer_says(create_customer(team=oslo), "My data stopped working")
    assert created
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.assignee == kari
    assigned = TimelineEvent.objects.get(conversation=conversation, kind="assigned")
    assert assigned.data["reason"] == "home team, longest idle"


def test_conversation_waits_in_team_queue_until_an_agent_becomes_available():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    message, _ = customer_says(create_customer(team=oslo))
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.waiting_since is not None

    from teamline.accounts.actions import do_set_presence

    do_set_presence(kari, "available", actor=kari)
    conversation.refresh_from_db()
    assert conversation.assignee == kari
    assert conversation.waiting_since is None


def test_reopened_conversation_returns_to_the_same_agent_when_available():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    customer = create_customer(team=oslo)
    message, _ = customer_says(customer)
    conversation = message.conversation
    do_change_status(conversation, Status.RESOLVED, actor=kari)
    create_agent("ola", team=oslo, presence="available")  # idle longer than kari now

    again, _ = customer_says(customer, "It broke again")
    assert again.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert conversation.assignee == kari


def test_an_agent_is_never_given_more_than_their_capacity():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 2})
    for _ in range(3):
        customer_says(create_customer(team=oslo))
    assert kari.assigned_conversations.filter(status="open").count() == 2


def test_resolving_frees_capacity_for_the_oldest_waiting_conversation():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    first, _ = customer_says(create_customer(team=oslo))
    second, _ = customer_says(create_customer(team=oslo))
    second.conversation.refresh_from_db()
    assert second.conversation.assignee is None
    do_change_status(first.conversation, Status.RESOLVED, actor=kari)
    second.conversation.refresh_from_db()
    assert second.conversation.assignee == kari
