"""Each inbox may keep message bodies for a set number of days; a daily job deletes the texts
and files of older messages and keeps the rows (issue 11, story 7: "retention per inbox")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from teamline.audit.models import AuditEntry
from teamline.conversations.attachments import prepare_attachment
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Attachment, Message
from teamline.core.testing import create_customer, create_inbox, create_team, create_user
from teamline.core.worker import enqueue_periodic
from teamline.privacy import actions
from teamline.privacy.actions import do_apply_retention
from teamline.privacy.models import RetentionPolicy, RetentionRun
from tests.connectors.support import run_tasks

from .support import PNG

pytestmark = pytest.mark.django_db


def said(customer, inbox, text, *, days_ago, file=False):
    attachments = [prepare_attachment("photo.png", "image/png", PNG)] if file else []
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=text,
        channel="webchat",
        external_id=f"{customer.pk}:{text}",
        attachments=attachments,
    )
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return message


@pytest.fixture
def oslo():
    return create_team("Oslo")


def admin_sets_retention(client, inbox, days):
    admin = create_user("root", role="admin")
    client.force_login(admin)
    return client.post(
        "/admin/privacy/retentionpolicy/add/", {"inbox": inbox.pk, "message_body_days": days}
    )


def test_an_admin_sets_an_inbox_to_keep_message_bodies_for_a_year(client, oslo):
    inbox = create_inbox(oslo)

    response = admin_sets_retention(client, inbox, 365)

    assert response.status_code == 302
    assert RetentionPolicy.objects.get(inbox=inbox).message_body_days == 365
    [change] = AuditEntry.objects.filter(action="settings.changed")  # one change, one entry
    assert change.target_type == "inbox"
    assert change.target_id == str(inbox.pk) and change.data == {"retention_days": 365}


@pytest.mark.parametrize("days", [0, -1, 36_501, "a year"])
def test_a_retention_that_is_not_a_number_of_days_is_refused(client, oslo, days):
    inbox = create_inbox(oslo)

    response = admin_sets_retention(client, inbox, days)

    assert response.status_code == 200  # the form again, with its error
    assert not RetentionPolicy.objects.exists()


@pytest.mark.integration
def test_the_daily_job_deletes_old_bodies_and_files_and_keeps_the_rows(oslo):
    kept_inbox = create_inbox(oslo, name="Email")
    inbox = create_inbox(oslo, name="Web chat")
    RetentionPolicy.objects.create(inbox=inbox, message_body_days=365)
    customer = create_customer(team=oslo)
    old = said(customer, inbox, "my old address is Storgata 1", days_ago=400, file=True)
    recent = said(customer, inbox, "still fresh", days_ago=30)
    elsewhere = said(create_customer(team=oslo), kept_inbox, "no policy here", days_ago=900)
    old_file = Path(Attachment.objects.get(message=old).file.path)

    enqueue_periodic()  # what the worker does every slot
    run_tasks()

    old.refresh_from_db()
    assert old.text == "" and old.content == {} and old.created_at, "the row stays, emptied"
    assert not Attachment.objects.filter(message=old).exists() and not old_file.exists()
    assert Message.objects.get(pk=recent.pk).text == "still fresh"
    assert Message.objects.get(pk=elsewhere.pk).text == "no policy here"
    run = RetentionRun.objects.get()
    assert (run.messages_cleared, run.attachments_deleted) == (1, 1)
    summary = AuditEntry.objects.get(action="retention.applied")
    assert summary.data == {
        "messages_cleared": 1,
        "attachments_deleted": 1,
        "inboxes": {str(inbox.pk): 1},
    }


@pytest.mark.integration
def test_the_job_runs_once_a_day_however_often_it_is_enqueued(oslo):
    inbox = create_inbox(oslo)
    RetentionPolicy.objects.create(inbox=inbox, message_body_days=7)
    customer = create_customer(team=oslo)
    said(customer, inbox, "one", days_ago=10)

    assert do_apply_retention() is not None
    later = said(customer, inbox, "two", days_ago=10)
    assert do_apply_retention() is None, "today's run is done"
    assert Message.objects.get(pk=later.pk).text == "two"

    tomorrow = do_apply_retention(timezone.now() + timedelta(days=1))

    assert tomorrow is not None and tomorrow.messages_cleared == 1
    assert Message.objects.get(pk=later.pk).text == ""
    assert AuditEntry.objects.filter(action="retention.applied").count() == 2


def test_a_run_left_by_a_dead_worker_is_finished_once_its_claim_expires(oslo):
    inbox = create_inbox(oslo)
    RetentionPolicy.objects.create(inbox=inbox, message_body_days=7)
    message = said(create_customer(team=oslo), inbox, "old", days_ago=10)
    now = timezone.now()
    RetentionRun.objects.create(
        day=timezone.localdate(now), claimed_until=now + timedelta(minutes=5)
    )

    assert do_apply_retention(now) is None, "another worker holds today's run"
    assert Message.objects.get(pk=message.pk).text == "old"

    run = do_apply_retention(now + timedelta(minutes=6))

    assert run is not None and run.finished_at is not None
    assert Message.objects.get(pk=message.pk).text == ""


def test_many_old_messages_are_cleared_in_batches(oslo, monkeypatch):
    monkeypatch.setattr(actions, "BATCH", 3)
    inbox = create_inbox(oslo)
    RetentionPolicy.objects.create(inbox=inbox, message_body_days=1)
    customer = create_customer(team=oslo)
    for n in range(8):
        said(customer, inbox, f"message {n}", days_ago=5)

    run = do_apply_retention()

    assert run is not None and run.messages_cleared == 8
    assert not Message.objects.exclude(text="").filter(inbox=inbox).exists()
