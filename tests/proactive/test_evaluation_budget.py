"""Rule evaluation costs the same statements per batch whatever the batch's size: the worker
claims a batch, reads what the rules need for all its events at once, writes the batch's
firings and notices in one statement each and marks the batch evaluated. A batch of 8 events
and a batch of 200 — each with every customer crossing both data-cap thresholds, or with
everyone reminded already — send exactly as many statements (docs/proactive.md, "Scaling")."""

from __future__ import annotations

import pytest
from django.db import connection

from teamline.core.testing import count_queries, create_customer
from teamline.proactive import stream
from teamline.proactive.actions import do_ingest_events
from teamline.proactive.models import Event, Notice, RuleFiring

from .care_world import oslo_team, usage

pytestmark = pytest.mark.django_db


def _customers(count: int) -> list[str]:
    team = oslo_team()
    phones = [f"+47912{n:05d}" for n in range(count)]
    for n, phone in enumerate(phones):
        create_customer(team=team, name=f"Customer {n}", identities=[("phone", phone, True)])
    return phones


def _batch(phones: list[str], tag: str) -> None:
    """Four readings per customer: 50 %, 85 % (the 80 % reminder), 100 % (the 100 % one),
    105 % (nothing new)."""
    events = [
        usage(f"{tag}-{step}-{n}", used, phone=phone)
        for step, used in enumerate([5120, 8704, 10240, 10752])
        for n, phone in enumerate(phones)
    ]
    do_ingest_events(events, sender="user:1")


def _evaluate_one_batch(size: int) -> list[str]:
    with count_queries() as statements:
        assert stream.evaluate_pending(limit=size) == size
    return list(statements)


def test_a_batch_costs_the_same_statements_at_8_and_at_200_events(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "EVENT_STREAM": "database"}
    phones = _customers(52)

    _batch(phones[:2], "small")
    small = _evaluate_one_batch(8)
    assert RuleFiring.objects.count() == 4 and Notice.objects.count() == 4

    _batch(phones[2:], "large")
    large = _evaluate_one_batch(200)
    assert RuleFiring.objects.count() == 104 and Notice.objects.count() == 104

    assert len(small) == len(large), "\n".join(large)
    # look, claim (on SQLite: the ids through the partial index, then their rows), rules,
    # firings already made, claims INSERT, customers, notices INSERT, the delivery task, mark
    assert len(large) <= 10, "\n".join(large)


def test_a_batch_of_customers_reminded_already_stops_at_the_claims(settings):
    """Later readings of a period find both reminders made: no condition is evaluated and
    nothing is written but the batch's mark."""
    settings.TEAMLINE = {**settings.TEAMLINE, "EVENT_STREAM": "database"}
    phones = _customers(50)
    _batch(phones, "first")
    while stream.evaluate_pending():
        pass

    _batch(phones[:2], "again-small")
    small = _evaluate_one_batch(8)
    _batch(phones[2:], "again-large")
    large = _evaluate_one_batch(192)

    assert len(small) == len(large) <= 6, "\n".join(large)
    assert RuleFiring.objects.count() == 100 and Notice.objects.count() == 100
    assert not Event.objects.filter(evaluated_at__isnull=True).exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
def test_no_statement_of_a_batch_scans_the_event_table(settings):
    """Each batch must find its events by index: a statement that walks the event table (as
    SQLite's planner did for the queue's claim, which ignored the partial index on the rowid)
    makes every batch slower the more events were stored before it."""
    settings.TEAMLINE = {**settings.TEAMLINE, "EVENT_STREAM": "database"}
    phones = _customers(4)
    _batch(phones, "plan")
    with count_queries() as statements:
        assert stream.evaluate_pending(limit=8) == 8
    plans = []
    with connection.cursor() as cursor:
        for sql in statements:
            if "proactive_event" in sql:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                plans.append((sql, " | ".join(str(row[-1]) for row in cursor.fetchall())))
    assert len(plans) >= 3
    for sql, plan in plans:
        assert "SCAN proactive_event" not in plan.replace("SCAN proactive_event USING", ""), (
            f"{sql}\n{plan}"
        )
