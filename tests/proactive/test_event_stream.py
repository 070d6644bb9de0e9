"""Events reach rule evaluation through the queue (docs/adr/0007-proactive-event-stream.md):
on the embedded default the database is the queue. Every stored event of a known customer is
evaluated once, in batches, by whichever worker claims it; a batch evaluated again (after a
crash) changes nothing."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from teamline.core.testing import create_customer
from teamline.proactive import deadletter, engine, stream
from teamline.proactive.models import Event, FailedBatch
from teamline.proactive.tasks import sweep_events

from .conftest import usage

pytestmark = pytest.mark.django_db


def _astrid():
    return create_customer(name="Astrid", identities=[("phone", "+4791234567", True)])


def test_the_database_queue_evaluates_every_known_customers_event_once(post_events, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "STREAM_BATCH": 40}
    _astrid()
    post_events([usage(f"u-{i}") for i in range(100)] + [usage("x", phone="+4741234567")])

    sizes = []
    while done := stream.evaluate_pending():
        sizes.append(done)

    assert sizes == [40, 40, 20]
    assert Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False).count() == 0
    # The unknown customer's event waits for its customer, unevaluated.
    assert Event.objects.get(external_id="x").evaluated_at is None


def test_a_batch_evaluated_again_changes_nothing(post_events):
    _astrid()
    post_events([usage("u-1"), usage("u-2")])
    ids = list(Event.objects.values_list("pk", flat=True))

    assert stream.evaluate_ids(ids) == 2
    first = dict(Event.objects.values_list("pk", "evaluated_at"))
    assert stream.evaluate_ids(ids) == 0
    assert dict(Event.objects.values_list("pk", "evaluated_at")) == first


def test_evaluation_is_handed_each_batch_of_stored_events_in_order(post_events, monkeypatch):
    """engine.evaluate_batch is the one place rules run: it gets the stored rows, with their
    customer, in id order."""
    astrid = _astrid()
    post_events([usage(f"u-{i}") for i in range(5)])
    seen: list[list[str]] = []
    real = engine.evaluate_batch

    def watching(events):
        seen.append([e.external_id for e in events])
        assert all(e.customer_id == astrid.pk for e in events)
        return real(events)

    monkeypatch.setattr(stream, "evaluate_batch", watching)

    stream.evaluate_pending()

    assert seen == [[f"u-{i}" for i in range(5)]]


def test_a_failed_evaluation_holds_the_batch_for_a_later_try_without_blocking_the_queue(
    post_events, monkeypatch
):
    _astrid()
    post_events([usage("u-1")])

    def broken(events):
        raise RuntimeError("rules blew up")

    monkeypatch.setattr(stream, "evaluate_batch", broken)
    assert stream.evaluate_pending() == 1  # taken out of the queue (proactive/deadletter.py)
    assert Event.objects.get().evaluated_at is None
    monkeypatch.undo()
    post_events([usage("u-2")])
    assert stream.evaluate_pending() == 1  # the next one, not the held one again
    assert Event.objects.get(external_id="u-1").evaluated_at is None

    failed = FailedBatch.objects.get()
    assert deadletter.retry_due(now=failed.next_attempt_at) == 1
    assert Event.objects.get(external_id="u-1").evaluated_at is not None


def test_the_periodic_sweep_matches_and_evaluates_what_no_listener_did(post_events):
    """An identity stored while no listener ran (a crash right after its commit): the sweep
    attaches the waiting events and evaluates them."""
    post_events([usage("early", phone="+4741234567")])
    late = create_customer(name="Late", identities=[("phone", "+4741234567", True)])
    assert Event.objects.get().customer is None  # no on-commit in this test's transaction

    assert sweep_events.call() == 2  # one matched, one evaluated

    event = Event.objects.get()
    assert event.customer == late and event.evaluated_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_consumers_share_the_database_queue_without_evaluating_twice(
    post_events, monkeypatch, settings
):
    settings.TEAMLINE = {**settings.TEAMLINE, "STREAM_BATCH": 25, "STREAM_POLL_SECONDS": 0.05}
    _astrid()
    post_events([usage(f"u-{i}") for i in range(400)])
    evaluated: dict[str, list[int]] = {}
    real = engine.evaluate_batch

    def recording(events):
        evaluated.setdefault(threading.current_thread().name, []).extend(e.pk for e in events)
        return real(events)

    monkeypatch.setattr(stream, "evaluate_batch", recording)
    stop = threading.Event()

    def worker():
        try:
            stream.consume(stop)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker, name=f"w{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(200):
            if not Event.objects.filter(evaluated_at__isnull=True).exists():
                break
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    every = [pk for pks in evaluated.values() for pk in pks]
    assert sorted(every) == sorted(Event.objects.values_list("pk", flat=True))  # each once
