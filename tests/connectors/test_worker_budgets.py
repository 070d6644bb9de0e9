"""Query budgets of the task worker's side of a provider webhook (docs/benchmarks.md, "The
worker's side of a webhook"): what processing one stored SMS costs, for a new customer's first
message and for a returning customer's next one, counted by construction.

Every statement the processing sends is counted, the after-commit work included (the waiting
proactive events a new phone number may claim); transaction control apart: one transaction per
webhook, so the only savepoint is the test's stand-in for the event's own transaction. The
message path's own budgets are in tests/conversations/test_query_budgets.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.core.testing import capture_events, create_agent, create_team
from teamline.customers.models import Customer
from teamline.routing.actions import do_assign_conversation
from teamline.routing.models import WorkItem
from tests.connectors.test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms
from tests.connectors.test_sms import sign as twilio_sign

# The same budgets on PostgreSQL.
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def sms_inbox(oslo):
    inbox = Inbox.objects.create(name="SMS Norway", kind="sms", default_team=oslo)
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000"}
    inbox.save()
    return inbox


def texts(inbox: Inbox, sender: str, sid: str, body: str) -> WebhookEvent:
    """Twilio posts a signed inbound SMS from `sender`; returns the stored event."""
    url = f"http://testserver/webhooks/twilio/{inbox.public_id}/"
    fields = inbound_sms(body, From=sender, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    pairs = list(fields.items())
    response = Client().post(
        url,
        data=urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": twilio_sign(AUTH_TOKEN, url, pairs)},
    )
    assert response.status_code == 200
    return WebhookEvent.objects.get(inbox=inbox, external_id=sid)


def processed(captured: CaptureQueriesContext) -> tuple[list[str], int]:
    """(the statements, the savepoints) a processing sent, its after-commit work included."""
    sql = [query["sql"] for query in captured.captured_queries]
    statements = [s for s in sql if not s.startswith(SAVEPOINTS)]
    return statements, len([s for s in sql if s.startswith("SAVEPOINT")])


def touching(statements: list[str], table: str) -> list[str]:
    return [sql for sql in statements if f'"{table}"' in sql]


def kinds(statements: list[str]) -> list[str]:
    return [sql.split(" ", 1)[0] for sql in statements]


def test_a_new_customers_first_sms_costs_fourteen_statements(
    sms_inbox, django_capture_on_commit_callbacks
):
    # Someone wrote before: the routing policy and the service levels are known to this
    # process, and the batch router's task is waiting already.
    with django_capture_on_commit_callbacks(execute=True):
        process_event(texts(sms_inbox, "+4791000001", "SM" + "1" * 32, "Hei").pk)
    event = texts(sms_inbox, "+4792000002", "SM" + "2" * 32, "Mobilen min virker ikke i dag")

    with (
        CaptureQueriesContext(connection) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_event(event.pk) == "processed"
    statements, savepoints = processed(captured)

    # The event read with its inbox, then marked processed; the sender looked up, then the
    # new customer (with the language her text is in) and her phone number; the conversation
    # (with its first message's counters), its timeline row and the message; the queued work
    # item, the contact offered and its fact row (analytics); whether the batch router's task
    # waits; after commit, the proactive events that waited for her number. Nothing is read
    # twice, nothing she cannot have yet (a conversation, a bot session, earlier contacts) is
    # looked up, and no statement runs in a savepoint of its own.
    assert len(statements) <= 14, "\n".join(statements)
    assert savepoints == 1, "\n".join(q["sql"] for q in captured.captured_queries)
    assert len(touching(statements, "connectors_webhookevent")) == 2
    assert not touching(statements, "selfservice_botsession")
    assert kinds(touching(statements, "conversations_conversation")) == ["INSERT"]
    assert "UPDATE" not in kinds(touching(statements, "customers_customer"))
    assert kinds(touching(statements, "customers_identity")) == ["SELECT", "INSERT"]

    customer = Customer.objects.get(identities__value="+4792000002")
    assert (customer.preferred_language, customer.language_source) == ("nb", "detected")
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.unread_count == 1
    assert conversation.last_message_at == conversation.messages.get().created_at
    assert WorkItem.objects.filter(conversation=conversation, state="queued").count() == 1


def test_a_returning_customers_sms_costs_seven_statements(
    sms_inbox, oslo, django_capture_on_commit_callbacks
):
    kari = create_agent("kari", team=oslo, presence="available")
    with django_capture_on_commit_callbacks(execute=True):
        process_event(
            texts(sms_inbox, "+4793000003", "SM" + "3" * 32, "Mobilen min virker ikke").pk
        )
    conversation = Conversation.objects.get()
    do_assign_conversation(conversation, kari, actor=None, reason="test")
    event = texts(sms_inbox, "+4793000003", "SM" + "4" * 32, "Fortsatt ingen dekning")

    with (
        capture_events(expected=["message.created"]),
        CaptureQueriesContext(connection) as captured,
    ):
        assert process_event(event.pk) == "processed"
    statements, savepoints = processed(captured)

    # The event read and marked; the sender; her conversation locked with what its events
    # present; the experts taking part; the message; the conversation's counters.
    assert len(statements) <= 7, "\n".join(statements)
    assert savepoints == 1
    conversation.refresh_from_db()
    assert conversation.unread_count == 2 and conversation.assignee_id == kari.pk


def test_a_retried_webhook_still_stores_one_message_and_one_customer(
    sms_inbox, django_capture_on_commit_callbacks
):
    event = texts(sms_inbox, "+4794000004", "SM" + "5" * 32, "Hallo?")
    with django_capture_on_commit_callbacks(execute=True):
        assert process_event(event.pk) == "processed"

    # A worker that died after the commit runs the task again; a provider resends the event.
    with CaptureQueriesContext(connection) as captured:
        assert process_event(event.pk, force=True) == "processed"
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending")
    assert process_event(event.pk) == "processed"

    # The refused INSERT undid the optimistic attempt; the careful one found the message.
    assert any(q["sql"].startswith("ROLLBACK TO SAVEPOINT") for q in captured.captured_queries)
    assert Customer.objects.filter(identities__value="+4794000004").count() == 1
    assert Message.objects.filter(external_id="SM" + "5" * 32).count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert WorkItem.objects.count() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 3)
