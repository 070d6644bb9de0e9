"""What offering every inbound message to self-service costs the hot path: nothing for a
message in an ongoing conversation, nor for one that starts a conversation (it can have no bot
session yet), one query for one that reopens a conversation on an inbox without the bot."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from teamline.conversations.actions import do_change_status
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Status
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from teamline.routing.actions import do_assign_conversation

pytestmark = pytest.mark.django_db


def self_service_queries(inbox, customer, text: str, external_id: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        do_receive_customer_message(
            inbox=inbox,
            customer=customer,
            text=text,
            channel="webchat",
            external_id=external_id,
            defer_routing=True,
        )
    return sum("selfservice_" in q["sql"] for q in captured.captured_queries)


def test_a_message_costs_self_service_one_query_at_most_without_the_bot():
    team = create_team("Oslo")
    kari = create_agent("kari", team=team)
    inbox = create_inbox(team)
    customer = create_customer(team=team)

    assert self_service_queries(inbox, customer, "Hei, mobilen min virker ikke", "m1") == 0
    assert self_service_queries(inbox, customer, "Er dere der?", "m2") == 0
    conversation = Conversation.objects.get(customer=customer)
    do_assign_conversation(conversation, kari, actor=None, reason="test")
    do_change_status(conversation, Status.RESOLVED, actor=kari)
    # Reopened: a session self-service left pending might be there.
    assert self_service_queries(inbox, customer, "Det virker ikke igjen", "m3") == 1


def test_a_conversation_the_bot_holds_costs_a_few_queries_per_message():
    team = create_team("Oslo")
    inbox = create_inbox(team)
    inbox.config = {"bot": True}
    inbox.save()
    customer = create_customer(team=team)

    # The session opened (a new conversation has none to look up), the turn's task enqueued
    # (in the task table).
    assert self_service_queries(inbox, customer, "Hva er saldoen min?", "m1") == 1
    assert self_service_queries(inbox, customer, "Og data?", "m2") == 1
