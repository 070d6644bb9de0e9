"""A provider's webhook is acknowledged for the price of one write: the process keeps the inboxes
it has read (an admin's change takes effect at the next delivery, one made by another process
within a second), and the raw event is stored with its processing task in one statement on
PostgreSQL, two on SQLite — the very task row django-tasks would have written."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tasks_db.models import DBTaskResult

from teamline.connectors import queries
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_webhook_event
from teamline.conversations.models import Inbox
from teamline.core.testing import count_queries

from .test_admission import SECRET, telegram_inbox, update

NEW_SECRET = "a-new-secret-token-chosen-by-the-admin"


def post(inbox: Inbox, update_id: int, secret: str = SECRET) -> int:
    """Telegram delivers update `update_id` to the inbox's webhook; the answer's status."""
    response = Client().post(
        f"/webhooks/telegram/{inbox.public_id}/",
        data=update(update_id),
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
    )
    return response.status_code


def stored() -> list[str]:
    return sorted(WebhookEvent.objects.values_list("external_id", flat=True), key=int)


def new_secret_elsewhere(inbox: Inbox) -> None:
    """Another process's admin sets a new secret token: saved, but no signal reaches here."""
    changed = Inbox.objects.get(pk=inbox.pk)
    changed.credentials = {**changed.credentials, "secret_token": NEW_SECRET}
    Inbox.objects.filter(pk=inbox.pk).update(credentials_encrypted=changed.credentials_encrypted)


@pytest.mark.django_db
def test_a_warm_ack_costs_one_write_and_no_inbox_read(monkeypatch):
    # Within the window however slow the machine is (the window itself: the tests below).
    monkeypatch.setattr(queries, "WEBHOOK_INBOX_SECONDS", 3600.0)
    inbox = telegram_inbox()
    assert post(inbox, 1) == 200  # the process reads the inbox once

    with count_queries() as ack:
        assert post(inbox, 2) == 200

    # The event and its task: one statement on PostgreSQL, an INSERT each on SQLite.
    assert ack.touching("conversations_inbox") == [], "\n".join(ack)
    assert len(ack) == (1 if connection.vendor == "postgresql" else 2), "\n".join(ack)
    assert ack.touching("connectors_webhookevent") and ack.touching(DBTaskResult._meta.db_table)

    with count_queries() as retry:  # the provider delivers update 2 again
        assert post(inbox, 2) == 200
    assert len(retry) <= 2, "\n".join(retry)  # the refused write, then the stored event read
    assert stored() == ["1", "2"]


@pytest.mark.django_db
def test_the_task_row_is_the_one_django_tasks_writes():
    inbox = telegram_inbox()
    assert post(inbox, 1) == 200
    event = WebhookEvent.objects.get()
    acked = DBTaskResult.objects.get()
    enqueued = DBTaskResult.objects.get(id=process_webhook_event.enqueue(event.pk).id)

    def columns(row: DBTaskResult) -> dict:
        skip = {"id", "enqueued_at"}
        return {f.attname: getattr(row, f.attname) for f in row._meta.fields if f.name not in skip}

    assert columns(acked) == columns(enqueued)
    assert acked.args_kwargs == {"args": [event.pk], "kwargs": {}}
    assert acked.task.func is process_webhook_event.func
    assert abs((enqueued.enqueued_at - acked.enqueued_at).total_seconds()) < 60


@pytest.mark.django_db
def test_a_new_secret_takes_effect_at_the_next_delivery():
    inbox = telegram_inbox()
    assert post(inbox, 1) == 200

    inbox.credentials = {**inbox.credentials, "secret_token": NEW_SECRET}
    inbox.save()  # the admin changes it in this process

    assert post(inbox, 2) in (401, 403)
    assert post(inbox, 3, NEW_SECRET) == 200
    assert stored() == ["1", "3"]


@pytest.mark.django_db
def test_a_deleted_or_deactivated_inbox_is_not_found_at_once():
    inbox, other = telegram_inbox(), telegram_inbox()
    assert post(inbox, 1) == 200 and post(other, 2) == 200

    inbox.delete()
    other.is_active = False
    other.save()

    assert post(inbox, 3) == 404
    assert post(other, 4) == 404
    assert stored() == ["2"]  # the deleted inbox's event went with it


@pytest.mark.django_db
def test_a_secret_changed_by_another_process_takes_effect_within_the_window(monkeypatch):
    inbox = telegram_inbox()
    assert post(inbox, 1) == 200
    new_secret_elsewhere(inbox)
    # Within the window this process still verifies with what it read…
    assert post(inbox, 2) == 200
    assert post(inbox, 3, NEW_SECRET) in (401, 403)

    monkeypatch.setattr(queries, "WEBHOOK_INBOX_SECONDS", 0.0)  # … once it has passed, not.
    assert post(inbox, 4) in (401, 403)
    assert post(inbox, 5, NEW_SECRET) == 200
    assert stored() == ["1", "2", "5"]


@pytest.mark.django_db(transaction=True)
def test_an_inbox_deleted_by_another_process_is_not_found_and_nothing_is_stored():
    inbox = telegram_inbox()
    assert post(inbox, 1, "forged") in (401, 403)  # read (and kept) to verify; nothing stored

    # Another process deletes it: no signal here, and the inbox is still kept.
    Inbox.objects.filter(pk=inbox.pk)._raw_delete(connection.alias)

    assert post(inbox, 2) == 404  # its INSERT found no inbox
    assert post(inbox, 3) == 404  # and the process read it again
    assert stored() == []
    assert DBTaskResult.objects.count() == 0
