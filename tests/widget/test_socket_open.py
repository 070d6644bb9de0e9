"""What opening a widget socket costs: one database hop, each row read once, a query budget
that does not grow with the customer's history (docs/benchmarks.md, "Opening widget sockets").
Ten thousand customers' widgets reconnect at once after a deploy; each open waits its turn in
the process's one database thread."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from teamline.connectors import webchat
from teamline.connectors.actions import do_start_webchat_session
from teamline.conversations.actions import do_send_reply
from teamline.core.testing import count_queries, customer_says, record_database_hops
from teamline.widget import consumers
from teamline.widget.consumers import open_socket

from .sockets import ChatTab, start_session

ORIGIN = "https://www.nordlys.example"


def opened(token: str):
    """The `auth` frame's database work, as the socket does it."""
    return open_socket(webchat.read_session(token), ORIGIN, "198.51.100.7")


def tables_read(statements) -> Counter:
    return Counter(
        match.group(1)
        for sql in statements
        if sql.startswith("SELECT")
        for match in [re.search(r'FROM "(\w+)"', sql)]
        if match
    )


@pytest.mark.django_db
@pytest.mark.integration
def test_a_new_visitors_socket_opens_with_eight_queries_each_table_read_once(inbox, kari):
    token = do_start_webchat_session(inbox).token

    with count_queries() as queries:
        session, ready = opened(token)

    # The inbox, the customer, the thread, the current conversation, the place in the queue,
    # the team card's members, whether anybody vouched for the visitor, whether they saved a
    # passkey. Nothing written, nothing read twice.
    assert len(queries) <= 8, "\n".join(queries)
    assert all(sql.startswith("SELECT") for sql in queries), "\n".join(queries)
    assert max(tables_read(queries).values()) == 1, tables_read(queries)
    assert ready["type"] == "ready" and ready["messages"] == [] and ready["conversation"] is None
    assert [m["name"] for m in ready["team"]["members"]] == ["Kari Nordmann"]
    assert session.inbox == inbox


@pytest.mark.django_db
@pytest.mark.integration
def test_a_returning_customers_socket_costs_the_same_however_long_their_history(inbox, kari):
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
    # The same eight, and the open conversation's step-up (its verification level's request).
    assert len(long) == len(short) <= 9, "\n".join(long)


@pytest.mark.django_db(transaction=True)
async def test_opening_a_socket_takes_one_database_hop(inbox, monkeypatch):
    token = await start_session(inbox)
    hops = record_database_hops(monkeypatch, consumers)
    tab = ChatTab()

    ready = await tab.ready(token)

    assert ready["type"] == "ready"
    assert hops == ["open_socket"]
    await tab.close()
