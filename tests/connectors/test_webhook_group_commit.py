"""Deliveries that arrive together are written together: on PostgreSQL the ingest's threads hand
their rows to one writer, which stores them with their tasks in one statement, and each provider
is answered only once the write holding its row has committed (connectors/webhook_store.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection
from django_tasks_db.models import DBTaskResult

from teamline.connectors import ingest, queries, webhook_store
from teamline.connectors.actions import do_store_webhook_event
from teamline.connectors.models import WebhookEvent, WebhookEventStatus
from teamline.connectors.webhook_store import GROUP, Pending
from teamline.conversations.models import Inbox
from teamline.core.testing import count_queries

from .test_admission import deliver, telegram_inbox
from .test_ingest import ingest_app, stored_ids

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the group commit is PostgreSQL's"
    ),
]


def pending(inbox: Inbox, external_id: str, *, answered: bool = False) -> Pending:
    """A verified delivery's row, as insert_event_and_task hands it over."""
    event = WebhookEvent(
        provider="telegram",
        inbox=inbox,
        external_id=external_id,
        body=b"{}",
        status=WebhookEventStatus.IGNORED if answered else WebhookEventStatus.PENDING,
    )
    backend = webhook_store.process_webhook_event.get_backend()
    task = None if answered else webhook_store._new_task(backend)
    return Pending("default", event, task)


def tasks_by_event() -> dict[int, int]:
    """How many processing tasks each stored event has."""
    counts: dict[int, int] = {}
    for task in DBTaskResult.objects.filter(task_path__endswith="process_webhook_event"):
        (event_id,) = task.args_kwargs["args"]
        counts[event_id] = counts.get(event_id, 0) + 1
    return counts


def store_first_alone(inbox: Inbox) -> None:
    """One delivery stored the ordinary way, so the statements exist (and a retry can hit it)."""
    do_store_webhook_event(
        inbox, provider="telegram", external_id="stored", body=b"{}", headers={}, request_meta={}
    )


async def test_a_burst_is_written_in_fewer_writes_than_deliveries_each_stored_once(monkeypatch):
    inbox = await sync_to_async(telegram_inbox)()
    genuine = webhook_store.write_batch
    first_write = threading.Lock()

    def held_first_write(batch):  # the first write waits until others queue behind it
        if first_write.acquire(blocking=False):
            deadline = time.monotonic() + 10
            while len(GROUP._waiting) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        genuine(batch)

    # The inbox is known to the process (a warm ack reads nothing before its write, so the
    # threads waiting for the writer hold no connection).
    monkeypatch.setattr(queries, "WEBHOOK_INBOX_SECONDS", 3600.0)
    app = ingest_app(threads=ingest.webhook_threads())  # as many as the pool serves
    assert (await deliver(app, inbox, 1)).status == 200
    monkeypatch.setattr(webhook_store, "write_batch", held_first_write)
    batches_before = GROUP.batches

    answers = await asyncio.gather(*(deliver(app, inbox, i) for i in range(2, 18)))

    assert [a.status for a in answers] == [200] * 16
    assert await sync_to_async(stored_ids)() == [str(i) for i in range(1, 18)]
    writes = GROUP.batches - batches_before
    assert writes < 16, "the deliveries that queued behind the first write shared one"
    counts = await sync_to_async(tasks_by_event)()
    assert sorted(counts.values()) == [1] * 17  # one task each, none twice


def test_retries_in_the_same_write_or_of_a_stored_event_change_nothing():
    inbox = telegram_inbox()
    store_first_alone(inbox)
    new, again = pending(inbox, "n-1"), pending(inbox, "n-1")  # delivered twice at once
    retry = pending(inbox, "stored")  # the provider's retry of the stored one
    answered = pending(inbox, "a-1", answered=True)  # needs no processing: no task

    with count_queries() as write:
        webhook_store.write_batch([new, again, retry, answered])

    assert len(write) == 1, "\n".join(write)  # one statement for the four
    assert new.row is not None and answered.row is not None
    assert again.row is None and retry.row is None
    assert not any(item.error for item in (new, again, retry, answered))
    stored = dict(WebhookEvent.objects.values_list("external_id", "pk"))
    assert sorted(stored) == ["a-1", "n-1", "stored"]
    assert stored["n-1"] == new.row[0] and stored["a-1"] == answered.row[0]
    assert tasks_by_event() == {stored["stored"]: 1, stored["n-1"]: 1}


def test_a_row_that_cannot_be_written_fails_only_its_own_ack():
    inbox = telegram_inbox()
    store_first_alone(inbox)
    doomed_inbox = telegram_inbox()
    good, doomed, also_good = (
        pending(inbox, "g-1"),
        pending(doomed_inbox, "d-1"),
        pending(inbox, "g-2"),
    )
    Inbox.objects.filter(pk=doomed_inbox.pk).delete()  # deleted after its webhook was verified

    webhook_store.write_batch([good, doomed, also_good])

    assert isinstance(doomed.error, IntegrityError) and doomed.row is None
    assert good.error is None and also_good.error is None
    assert sorted(WebhookEvent.objects.values_list("external_id", flat=True)) == [
        "g-1",
        "g-2",
        "stored",
    ]
    assert len(tasks_by_event()) == 3


class Crash(BaseException):
    """Not even an Exception (a thread being torn down)."""


def test_the_writer_wakes_everyone_and_gives_up_its_turn_even_when_its_write_breaks(monkeypatch):
    inbox = telegram_inbox()
    store_first_alone(inbox)

    def broken(batch):
        raise Crash

    monkeypatch.setattr(webhook_store, "write_batch", broken)
    group = webhook_store.GroupCommit()
    with pytest.raises(Crash):
        group.submit(pending(inbox, "x-1"))
    assert group._waiting == [] and not group._writing  # the next delivery writes at once
