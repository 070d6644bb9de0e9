"""Query budgets of the message path (docs/benchmarks.md, "Message path").

Each budget is what one operation costs by construction, counted with core.testing's
count_queries (statements sent to the database, transaction control left out): a customer
writing again in the chat or by SMS, an agent answering through the desk and the API, and an
agent opening or switching conversations, which must not grow with the history.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.core.errors import RateLimited
from teamline.core.testing import (
    capture_events,
    count_queries,
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    customer_says,
)
from teamline.customers.models import Customer
from teamline.routing.actions import do_assign_conversation
from teamline.routing.models import WorkItem
from teamline.widget.consumers import WidgetSession, _open_session, _receive_message
from tests.connectors.test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms
from tests.connectors.test_sms import sign as twilio_sign

# The same budgets on PostgreSQL: the locks and subqueries are one statement there too.
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

SIGN_IN = ("django_session", "accounts_user", "accounts_staffsession")


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def chat(oslo):
    return create_inbox(oslo, name="Nordlys chat")


def chat_session(inbox: Inbox) -> WidgetSession:
    """What the widget socket holds once the visitor authenticated."""
    token = do_start_webchat_session(inbox).token
    inbox, customer = _open_session(token)
    return WidgetSession(inbox=inbox, customer=customer, ip="198.51.100.7")


def in_kari_hands(conversation: Conversation, kari) -> None:
    do_assign_conversation(conversation, kari, actor=None, reason="test")


# --- A customer message ---------------------------------------------------------------------


def test_a_customer_writing_again_in_the_chat_costs_three_queries(chat, kari):
    visitor = chat_session(chat)
    # Her first message says she writes English (core.langid): Teamline stores her language
    # then, once; every message after that costs nothing for it.
    first = _receive_message(visitor, str(uuid.uuid4()), "My mobile data stopped working today")
    assert visitor.customer.preferred_language == "en"
    in_kari_hands(Conversation.objects.get(pk=first["conversation_id"]), kari)

    with (
        capture_events(expected=["message.created"]) as events,
        count_queries() as queries,
    ):
        answer = _receive_message(visitor, str(uuid.uuid4()), "Still nothing, since noon")

    # The conversation locked and read with its team, agent and customer in one statement (it
    # says no expert was ever invited: nobody else to read); the message; the conversation's
    # last-message time and unread count. One event: the message carries the conversation as
    # it now stands.
    assert len(queries) <= 3, "\n".join(queries)
    assert answer["text"] == "Still nothing, since noon"
    conversation = Conversation.objects.get(pk=first["conversation_id"])
    assert conversation.unread_count == 2
    updated = events[0][0].staff["conversation"]
    assert updated["unread_count"] == 2
    assert updated["assignee"] == {"id": kari.pk, "name": "Kari Nordmann"}
    assert updated["team"]["name"] == "Oslo"


def test_the_message_that_tells_the_customers_language_costs_one_update_more(chat, kari):
    visitor = chat_session(chat)
    first = _receive_message(visitor, str(uuid.uuid4()), "Hi")  # says no language
    in_kari_hands(Conversation.objects.get(pk=first["conversation_id"]), kari)

    with count_queries() as queries:
        _receive_message(visitor, str(uuid.uuid4()), "Tere, mul pole täna kodus levi")

    assert len(queries) <= 5, "\n".join(queries)
    assert len([sql for sql in queries if sql.startswith('UPDATE "customers_customer"')]) == 1
    assert visitor.customer.preferred_language == "et"


def test_a_resent_chat_message_is_stored_once(chat, kari):
    visitor = chat_session(chat)
    client_id = str(uuid.uuid4())
    first = _receive_message(visitor, client_id, "Hello?")

    with count_queries() as queries:
        again = _receive_message(visitor, client_id, "Hello?")

    assert again["id"] == first["id"]
    assert Message.objects.filter(conversation_id=first["conversation_id"]).count() == 1
    # The unique index refused the INSERT; only this rare path reads the stored message.
    assert len(queries) <= 5, "\n".join(queries)


def test_new_chats_from_one_address_are_limited_under_the_lock(chat, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR": 1}
    first, second = chat_session(chat), chat_session(chat)
    _receive_message(first, str(uuid.uuid4()), "Hi")
    # Writing again in an open conversation is not a new one.
    _receive_message(first, str(uuid.uuid4()), "Are you there?")

    with pytest.raises(RateLimited):
        _receive_message(second, str(uuid.uuid4()), "Hi from another tab")

    assert not Conversation.objects.filter(customer=second.customer).exists()
    assert not Message.objects.filter(conversation__customer=second.customer).exists()


@pytest.fixture
def sms_inbox(oslo):
    inbox = Inbox.objects.create(name="SMS Norway", kind="sms", default_team=oslo)
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000"}
    inbox.save()
    return inbox


def texts(client: Client, inbox: Inbox, sid: str, body: str, sender: str = "+4791234567") -> None:
    """Twilio posts a signed inbound SMS from `sender` and is answered 200."""
    url = f"http://testserver/webhooks/twilio/{inbox.public_id}/"
    fields = inbound_sms(body, From=sender, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    pairs = list(fields.items())
    response = client.post(
        url,
        data=urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": twilio_sign(AUTH_TOKEN, url, pairs)},
    )
    assert response.status_code == 200


def stored(inbox: Inbox, sid: str) -> WebhookEvent:
    return WebhookEvent.objects.get(inbox=inbox, external_id=sid)


def test_a_customer_writing_again_by_sms_costs_four_queries_for_the_message(sms_inbox, kari):
    client = Client()
    first, second = "SM" + "1" * 32, "SM" + "2" * 32
    texts(client, sms_inbox, first, "Mobilen min virker ikke")
    assert process_event(stored(sms_inbox, first).pk) == "processed"
    in_kari_hands(Conversation.objects.get(), kari)

    with count_queries() as ack:
        texts(client, sms_inbox, second, "Fortsatt ingen dekning")
    event = stored(sms_inbox, second)
    with (
        capture_events(expected=["message.created"]),
        count_queries() as processing,
    ):
        assert process_event(event.pk) == "processed"

    # The ack: the inbox, the raw event and its processing task (the outbox) — nothing more.
    assert len(ack) <= 3, "\n".join(ack)
    # The processing: the event read, then marked processed with its attempt counted (in the
    # message's transaction); the sender resolved by their phone number; then the message's
    # own four, as in the chat.
    event_rows = processing.touching("connectors_webhookevent")
    sender = processing.touching("customers_identity")
    assert len(event_rows) == 2 and len(sender) == 1, "\n".join(processing)
    assert len(processing) - len(event_rows) - len(sender) <= 4, "\n".join(processing)
    conversation = Conversation.objects.get()
    assert [m.text for m in conversation.messages.all()] == [
        "Mobilen min virker ikke",
        "Fortsatt ingen dekning",
    ]

    # A provider's replay of the same delivery changes nothing.
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending")
    assert process_event(event.pk) == "processed"
    assert conversation.messages.count() == 2


# --- The worker's side of a webhook ---------------------------------------------------------
# What processing one stored SMS costs the task worker (docs/benchmarks.md, "The worker's side
# of a webhook"): every statement counted, the after-commit work included (the waiting
# proactive events a new phone number may claim); one transaction per webhook, so the only
# savepoint is the test's stand-in for the event's own transaction.

SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def arrives(inbox: Inbox, sender: str, sid: str, body: str) -> WebhookEvent:
    """An SMS from `sender`, acknowledged and stored for the worker."""
    texts(Client(), inbox, sid, body, sender)
    return stored(inbox, sid)


def processed(captured: CaptureQueriesContext) -> tuple[list[str], int]:
    """(the statements, the savepoints) a processing sent, its after-commit work included."""
    sql = [query["sql"] for query in captured.captured_queries]
    statements = [s for s in sql if not s.startswith(SAVEPOINTS)]
    return statements, len([s for s in sql if s.startswith("SAVEPOINT")])


def touching(statements: list[str], table: str) -> list[str]:
    return [sql for sql in statements if f'"{table}"' in sql]


def kinds(statements: list[str]) -> list[str]:
    return [sql.split(" ", 1)[0] for sql in statements]


def test_a_new_customers_first_sms_costs_thirteen_statements(
    sms_inbox, django_capture_on_commit_callbacks
):
    # Someone wrote before: the routing policy and the service levels are known to this
    # process, and the batch router's task is waiting already.
    with django_capture_on_commit_callbacks(execute=True):
        process_event(arrives(sms_inbox, "+4791000001", "SM" + "1" * 32, "Hei").pk)
    event = arrives(sms_inbox, "+4792000002", "SM" + "2" * 32, "Mobilen min virker ikke i dag")

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
    assert len(statements) <= 13, "\n".join(statements)
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
    sms_inbox, kari, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        process_event(
            arrives(sms_inbox, "+4793000003", "SM" + "3" * 32, "Mobilen min virker ikke").pk
        )
    conversation = Conversation.objects.get()
    in_kari_hands(conversation, kari)
    event = arrives(sms_inbox, "+4793000003", "SM" + "4" * 32, "Fortsatt ingen dekning")

    with (
        capture_events(expected=["message.created"]),
        CaptureQueriesContext(connection) as captured,
    ):
        assert process_event(event.pk) == "processed"
    statements, savepoints = processed(captured)

    # The event read and marked; the sender; her conversation locked with what its events
    # present (no expert ever invited: nobody else to read); the message; the conversation's
    # counters.
    assert len(statements) <= 6, "\n".join(statements)
    assert savepoints == 1
    conversation.refresh_from_db()
    assert conversation.unread_count == 2 and conversation.assignee_id == kari.pk


def test_a_retried_webhook_still_stores_one_message_and_one_customer(
    sms_inbox, django_capture_on_commit_callbacks
):
    event = arrives(sms_inbox, "+4794000004", "SM" + "5" * 32, "Hallo?")
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


# --- An agent reply -------------------------------------------------------------------------


@pytest.fixture
def waiting_for_kari(oslo, kari):
    message, _ = customer_says(create_customer(team=oslo, name="Astrid"), "Bill?")
    in_kari_hands(message.conversation, kari)
    return message.conversation


def test_an_agent_reply_through_the_api_costs_seven_queries_after_the_token(kari, waiting_for_kari):
    _, secret = do_create_api_token(kari, name="app", actor=kari)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    api.get("/api/v1/conversations")  # the token's first use records it; not measured
    url = f"/api/v1/conversations/{waiting_for_kari.pk}/messages"

    with (
        capture_events(expected=["message.created"]),
        count_queries() as queries,
    ):
        response = api.post(
            url,
            {"text": "Your bill is on its way"},
            content_type="application/json",
            headers={"Idempotency-Key": "reply-1"},
        )

    assert response.status_code == 201
    token = queries.touching("accounts_apitoken")
    # The conversation (scoped by Kari's teams in the same statement); the channel the
    # customer wrote on last; the conversation locked with what the events present and a
    # retry's stored reply (no expert was ever invited: nobody else to read); the message; the
    # conversation's time; the KPI facts (analytics): the waiting contact answered (one
    # UPDATE … RETURNING on every reply) and, as this reply is its first answer, the fact
    # row's upsert.
    assert len(token) == 1 and len(queries) - 1 <= 7, "\n".join(queries)
    assert len(queries.touching("analytics_contact")) == 1

    retried = api.post(
        url,
        {"text": "Your bill is on its way"},
        content_type="application/json",
        headers={"Idempotency-Key": "reply-1"},
    )
    assert retried.status_code == 200
    assert retried.json()["id"] == response.json()["id"]


def test_an_agent_reply_through_the_desk_reads_the_channels_once(client, kari, waiting_for_kari):
    client.force_login(kari)
    url = reverse("desk:reply", args=[waiting_for_kari.pk])
    client_id = uuid.uuid4().hex
    htmx = {"HX-Request": "true", "HX-Target": "reply-form"}
    client.get(reverse("desk:conversation", args=[waiting_for_kari.pk]))

    with (
        capture_events(expected=["message.created"]),
        count_queries() as queries,
    ):
        response = client.post(
            url, {"text": "Your bill is on its way", "client_id": client_id}, headers=htmx
        )

    assert response.status_code == 200
    signed_in = [q for q in queries if any(f'FROM "{table}"' in q for table in SIGN_IN)]
    channels = [
        q
        for q in queries
        if q.startswith("SELECT")
        and ('"customers_identity"' in q or '"connectors_inbox"' in q or "LIMIT 200" in q)
    ]
    # Signed in (the staff session: accounts); the customer's channels, read once for the
    # reply's choice and the form shown again; then the reply: the conversation, locked with
    # what the events present and a retry's stored reply, the message, its time, and the KPI
    # facts: the waiting contact answered and (a first answer) its fact row.
    assert len(signed_in) == 3 and len(channels) == 3, "\n".join(queries)
    assert len(queries) - len(signed_in) - len(channels) <= 6, "\n".join(queries)

    client.post(url, {"text": "Your bill is on its way", "client_id": client_id}, headers=htmx)
    assert waiting_for_kari.messages.filter(direction="out").count() == 1


# --- Opening a conversation -----------------------------------------------------------------


def desk_costs(client: Client, history: int) -> tuple[int, int]:
    """(opening a conversation, switching to another one) for an agent whose customer has
    `history` messages; every call builds the same world apart from that."""
    team = create_team()
    agent = create_agent(team=team, presence="available")
    long_one = customer_says(create_customer(team=team, name="Astrid"), "Hei")[0].conversation
    other = customer_says(create_customer(team=team, name="Per"), "Hallo")[0].conversation
    Message.objects.bulk_create(
        Message(
            conversation=long_one,
            direction="in" if i % 2 else "out",
            sender_kind="customer" if i % 2 else "agent",
            sender_user=None if i % 2 else agent,
            channel="webchat",
            text=f"Message {i}",
            delivery_status="received" if i % 2 else "sent",
        )
        for i in range(history)
    )
    client.force_login(agent)
    client.get(reverse("desk:conversation", args=[other.pk]))
    with count_queries() as opening:
        page = client.get(reverse("desk:conversation", args=[long_one.pk]))
    assert page.status_code == 200
    assert page.content.decode().count('class="message ') == history + 1
    with count_queries() as switching:
        # From the list: only the middle and right panes (htmx), the list stays.
        client.get(
            reverse("desk:conversation", args=[other.pk]),
            headers={"HX-Request": "true", "HX-Target": "desk-panes"},
        )
    return len(opening), len(switching)


def test_opening_a_conversation_costs_the_same_with_5_or_500_messages(client):
    short = desk_costs(client, 5)
    long = desk_costs(client, 500)

    assert short == long, (short, long)
    # 41 / 39 since this session's panels (the customer's language, WhatsApp templates, sign-in
    # step-up): constant in the history, over the earlier 40; folding the panels' reads is next.
    # One more for the satisfaction survey (the conversation's and the customer's answers, one
    # query for both).
    # The three panes: a full page adds the list (the views' three counts, the rows with their
    # last message, their labels, their routing and callbacks); switching from the list reads the
    # conversation's panes only, with the customer's timeline (one query).
    # Measured 53 / 43 once the canned replies, labels and surveys merged beside the panes.
    assert short[0] <= 53 and short[1] <= 43, short


# --- The agent viewing the conversation -------------------------------------------------------


def test_the_viewing_agents_read_frame_costs_three_queries_or_one(client, kari, waiting_for_kari):
    # desk.js adds a customer's plain message to the open history from its push and says it
    # was read with one `read` frame per burst, in place of a history read per message.
    from teamline.desk.consumers import mark_read

    conversation = waiting_for_kari
    customer_says(conversation.customer, "Hello?")
    customer_says(conversation.customer, "Anyone?")

    with (
        capture_events(expected=["conversation.updated"]),
        count_queries() as queries,
    ):
        assert mark_read(kari, conversation.pk)

    # The conversation scoped by Kari's teams; its unread count set to zero; the experts.
    assert len(queries) <= 3, "\n".join(queries)
    conversation.refresh_from_db()
    assert conversation.unread_count == 0

    with capture_events(expected=[]), count_queries() as queries:
        assert mark_read(kari, conversation.pk)
    assert len(queries) <= 1, "\n".join(queries)  # nothing unread: the scoped read alone

    # What it replaces: the history read after each message (`?after=`), which also marks read.
    customer_says(conversation.customer, "Still there?")
    last = conversation.messages.order_by("-pk").values_list("pk", flat=True)[1]
    client.force_login(kari)
    url = reverse("desk:conversation", args=[conversation.pk]) + f"?after={last}"
    with count_queries() as fetch:
        response = client.get(url, headers={"HX-Request": "true", "HX-Target": "history-list"})
    assert response.status_code == 200
    assert len(fetch) > len(queries) + 3
