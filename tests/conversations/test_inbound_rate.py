"""A customer's message rate is counted on their conversation's row, under the lock every inbound
message takes anyway (conversations/inbound.py): the widget's and the app's per-minute limit
costs no statement and no round trip of its own, holds across processes, and never counts a
resend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Message
from teamline.core.errors import RateLimited
from teamline.core.testing import count_queries, create_customer, create_inbox, create_team

pytestmark = pytest.mark.django_db

MINUTE = datetime(2026, 12, 7, 9, 30, 5, tzinfo=UTC)


@pytest.fixture
def at(monkeypatch):
    """Sets the clock inbound messages read."""

    def set_clock(when: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: when)

    set_clock(MINUTE)
    return set_clock


@pytest.fixture
def chat():
    oslo = create_team("Oslo")
    return create_inbox(oslo), create_customer(team=oslo)


def say(chat, text: str, *, client_id: str | None = None, channel: str = "webchat", limit=2):
    inbox, customer = chat
    return do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=text,
        channel=channel,
        external_id=f"{customer.pk}:{client_id or text}",
        per_minute=limit,
    )


def test_the_message_past_the_limit_is_refused_until_the_minute_ends(chat, at):
    say(chat, "one")
    say(chat, "two")

    with pytest.raises(RateLimited) as refused:
        say(chat, "three")

    assert refused.value.retry_after == 55  # 09:30:05 → the window ends at 09:31:00
    assert list(Message.objects.values_list("text", flat=True).order_by("pk")) == ["one", "two"]
    conversation = Conversation.objects.get()
    assert (conversation.inbound_in_minute, conversation.unread_count) == (2, 2)

    at(MINUTE.replace(minute=31))
    say(chat, "three")
    assert Conversation.objects.get().inbound_in_minute == 1


def test_a_resend_is_answered_with_the_stored_message_and_not_counted(chat, at):
    first, created = say(chat, "one")
    again, created_again = say(chat, "one")  # the same client id: a retry after a lost ack

    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Conversation.objects.get().inbound_in_minute == 1
    say(chat, "two")  # still within the limit of 2


def test_messages_from_every_channel_count_but_only_a_limited_caller_is_refused(chat, at):
    say(chat, "by sms", channel="sms", limit=None)  # a provider's webhook: never refused
    say(chat, "by sms again", channel="sms", limit=None)
    say(chat, "and more", channel="sms", limit=None)

    with pytest.raises(RateLimited):
        say(chat, "from the web chat")
    assert Conversation.objects.get().inbound_in_minute == 3


def test_counting_costs_no_statement_of_its_own(chat, at):
    say(chat, "opens the conversation")
    with count_queries() as limited:
        say(chat, "counted", limit=10)
    with count_queries() as unlimited:
        say(chat, "not limited", limit=None)

    assert len(limited) == len(unlimited)
    (update,) = [sql for sql in limited.touching("conversations_conversation") if "UPDATE" in sql]
    assert "inbound_in_minute" in update  # written with the row's other counters
