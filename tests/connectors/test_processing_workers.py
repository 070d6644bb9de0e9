"""Webhook processing by the task workers: each acknowledged webhook becomes exactly one
message, whatever happens to the worker that runs it, and an event is processed all or
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.connectors import actions as connector_actions
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Message
from teamline.core.models import TaskWorker
from teamline.core.task_leases import (
    Lease,
    LeasedWorker,
    default_worker,
    requeue_orphaned_tasks,
)
from teamline.customers.models import Customer, Identity

from .support import post_event

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sms_from(event_id: str, number: str, text: str) -> dict:
    return {"id": event_id, "messages": [{"id": f"SM{event_id}", "from": number, "text": text}]}


def worker(worker_id: str, *, lease_seconds: float = 30) -> LeasedWorker:
    lease = Lease(worker_id, seconds=lease_seconds)
    assert lease.renew()
    return default_worker(lease)


def test_a_worker_killed_mid_batch_leaves_every_webhook_one_message(client, sms_inbox):
    """Three customers text in. Worker "killed" claims all three processing tasks at once,
    stores the first message, and dies before it can record that task as done. Its batch is
    given back; another worker runs it: three messages, none twice."""
    customers = [("e1", "+47 912 34 501"), ("e2", "+47 912 34 502"), ("e3", "+47 912 34 503")]
    for event_id, number in customers:
        assert (
            post_event(client, sms_inbox, sms_from(event_id, number, "Ingen dekning")).status_code
            == 200
        )
    killed = worker("killed", lease_seconds=1.0)
    batch = killed._claim()
    assert len(batch) == 3
    assert process_event(*batch[0].args_kwargs["args"]) == "processed"  # then the process dies
    TaskWorker.objects.filter(worker_id="killed").update(
        beat_at=timezone.now() - timedelta(seconds=5)
    )

    assert requeue_orphaned_tasks(lease=1.0) == 3
    worker("fresh").run()

    assert Message.objects.count() == 3
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["SMe1", "SMe2", "SMe3"]
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


def test_an_event_that_fails_midway_leaves_nothing_half_done(client, sms_inbox, monkeypatch):
    """The database drops the message's INSERT after the new customer was created: the
    customer goes too (one transaction), the event is kept as failed with its attempt
    counted, and a replay stores the customer and the message once."""

    def outage(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connector_actions, "do_receive_customer_message", outage)
    post_event(client, sms_inbox, sms_from("e1", "+47 912 34 599", "Hei"))
    event = WebhookEvent.objects.get()

    assert process_event(event.pk) == "failed"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    assert "server closed the connection" in event.error
    assert not Customer.objects.exists() and not Identity.objects.exists()

    monkeypatch.undo()  # the database is back
    assert process_event(event.pk) == "processed"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert Customer.objects.count() == 1 and Message.objects.count() == 1
