"""What opening a widget socket costs: one database hop, each row read once, a query budget
that does not grow with the customer's history (docs/benchmarks.md, "Opening widget sockets").
Ten thousand customers' widgets reconnect at once after a deploy; each open waits its turn in
the process's one database thread."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from teamline.connectors import queries as connector_queries
from teamline.connectors import webchat
from teamline.connectors.actions import do_start_webchat_session
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import count_queries, customer_says, record_database_hops
from teamline.customers.actions import do_add_identity
from teamline.customers.models import CustomerPasskey
from teamline.teams import presenters as team_presenters
from teamline.widget import consumers
from teamline.widget.consumers import open_socket

from .sockets import ChatTab, start_session

ORIGIN = "https://www.nordlys.example"


def opened(token: str):
    """The `auth` frame's database work, as the socket does it."""
    return open_socket(webchat.read_session(token), ORIGIN, "198.51.100.7")


def tables_read(statements) -> Counter:
    """The table each SELECT reads its rows from (an EXISTS it asks on the way is not a read)."""
    return Counter(
        match.group(1)
        for sql in statements
        if sql.startswith("SELECT")
        for match in [re.search(r'FROM "(\w+)"', re.sub(r"EXISTS\(SELECT .*? LIMIT 1\)", "", sql))]
        if match
    )


@pytest.fixture
def held(monkeypatch):
    """The per-process inbox and team card kept as long as the test runs (a slow machine
    must not let the 1-2 s windows lapse between two opens)."""
    monkeypatch.setattr(connector_queries, "WEBHOOK_INBOX_SECONDS", 3600.0)
    monkeypatch.setattr(team_presenters, "TEAM_CARD_SECONDS", 3600.0)


@pytest.mark.django_db
@pytest.mark.integration
def test_a_new_visitors_socket_opens_with_one_statement(inbox, kari, held):
    # The first widget of the inbox in this process reads the inbox and the team card…
    token = do_start_webchat_session(inbox).token
    with count_queries() as first:
        opened(token)
    assert len(first) <= 3, "\n".join(first)
    assert all(sql.startswith("SELECT") for sql in first), "\n".join(first)
    assert max(tables_read(first).values()) == 1, tables_read(first)
    token = do_start_webchat_session(inbox).token

    # …every later visitor costs one: their customer row, which also says they have no
    # conversation, no queued callback, no vouched identity and no passkey.
    with count_queries() as queries:
        session, ready = opened(token)

    assert len(queries) == 1, "\n".join(queries)
    assert tables_read(queries) == {"customers_customer": 1}
    assert ready["type"] == "ready" and ready["messages"] == [] and ready["conversation"] is None
    assert ready["queue"] is None and ready["verification"] is None
    assert ready["consents"] is None and ready["passkey"] is False
    assert [m["name"] for m in ready["team"]["members"]] == ["Kari Nordmann"]
    assert session.inbox == inbox


@pytest.mark.django_db
@pytest.mark.integration
def test_a_returning_customers_socket_costs_the_same_however_long_their_history(inbox, kari, held):
    token = do_start_webchat_session(inbox).token
    session, _ready = opened(token)
    message, _ = customer_says(session.customer, "My data stopped working", inbox=inbox)
    with count_queries() as short:
        opened(token)
    for n in range(6):
        do_send_reply(message.conversation, f"Checking, step {n}", actor=kari)
        customer_says(session.customer, f"Still nothing ({n})", inbox=inbox)

    with count_queries() as long:
        _session, ready = opened(token)

    assert len(ready["messages"]) == 13
    assert ready["conversation"]["id"] == message.conversation_id
    # The customer (with what else there is), the thread, the current conversation and its
    # step-up; nothing read twice, nothing written.
    assert len(long) == len(short) <= 4, "\n".join(long)
    assert all(sql.startswith("SELECT") for sql in long), "\n".join(long)
    assert max(tables_read(long).values()) == 1, tables_read(long)


@pytest.mark.django_db
def test_what_the_customer_row_says_is_what_the_full_reads_would_find(inbox, held):
    """The skipped reads are skipped only when they would find nothing: a socket opened after a
    callback was queued, an identity vouched for or a passkey saved shows each of them, the same
    as the full picture a resync sends."""
    token = do_start_webchat_session(inbox).token
    session, _ready = opened(token)
    customer = session.customer
    customer_says(customer, "Anyone there?", inbox=inbox)  # nobody on duty: it waits
    do_add_identity(customer, "email", "ingrid@example.com", verified=True)
    CustomerPasskey.objects.create(
        customer=customer, credential_id=b"cred", public_key=b"key", sign_count=0
    )

    _session, ready = opened(token)

    assert ready == consumers._ready_frame(session)
    assert ready["queue"] is not None
    assert ready["consents"] == {"data_cap": True}
    assert ready["passkey"] is True
    assert ready["conversation"] is not None and ready["verification"] is not None


@pytest.mark.django_db(transaction=True)
async def test_opening_a_socket_takes_one_database_hop(inbox, monkeypatch):
    token = await start_session(inbox)
    hops = record_database_hops(monkeypatch, consumers)
    tab = ChatTab()

    ready = await tab.ready(token)

    assert ready["type"] == "ready"
    assert hops == ["open_socket"]
    await tab.close()
