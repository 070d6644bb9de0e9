"""A customer's file that the provider was only too busy or too slow to hand over is not lost:
the message is stored at once with the file pending — the agent reads that it is being fetched
again — and a task, committed with the message, fetches it again with backoff (1, 5, 15, 60
and 240 minutes). The file then joins the message on the desk; a refusal, or a provider still
busy at the last try, becomes the final note, as for a file refused on receipt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.connectors import actions
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.attachments import prepare_attachment
from teamline.conversations.inbound import do_settle_pending_attachments
from teamline.conversations.models import Attachment, Inbox, Message
from teamline.core.testing import capture_events, create_agent

from . import test_sms
from .fake_provider import FakeProvider
from .support import run_tasks
from .test_media_download import JPEG, _mms
from .test_omnichannel_scenario import post_twilio

pytestmark = pytest.mark.django_db

BUSY = {"raw": b"busy", "headers": {"Content-Type": "text/plain"}}
PICTURE = {"raw": JPEG, "headers": {"Content-Type": "image/jpeg"}}


def refetches():
    return DBTaskResult.objects.filter(task_path__endswith="refetch_attachments").order_by(
        "enqueued_at", "id"
    )


def busy_mms_acknowledged(client, fake: FakeProvider) -> tuple[Inbox, dict, WebhookEvent]:
    """The customer sends a picture of the meter and Twilio's webhook is acknowledged; Twilio
    will be busy when Teamline fetches the picture."""
    inbox, attachment = _mms(fake)
    fake.respond(503, **BUSY)
    fields = test_sms.inbound_sms(
        "Bildet av måleren",
        NumMedia="1",
        MediaUrl0=attachment.url,
        MediaContentType0="image/jpeg",
    )
    assert post_twilio(client, inbox, fields).status_code == 200
    return inbox, fields, WebhookEvent.objects.get(provider="twilio", inbox=inbox)


def mms_arrives(client, fake: FakeProvider) -> tuple[Inbox, Message]:
    """The customer's picture is stored as a message while Twilio is busy."""
    inbox, fields, event = busy_mms_acknowledged(client, fake)
    assert process_event(event.pk) == "processed"
    return inbox, Message.objects.get(channel="sms", external_id=fields["MessageSid"])


def the_next_try_is_due() -> timedelta:
    """The worker's clock reaches the queued try: how long after now it was due."""
    (queued,) = refetches().filter(status="READY")
    wait = queued.run_after - timezone.now()
    refetches().filter(pk=queued.pk).update(run_after=timezone.now())
    return wait


def test_a_file_the_provider_was_too_busy_to_hand_over_joins_the_message_a_minute_later(client):
    with FakeProvider() as fake:
        inbox, message = mms_arrives(client, fake)

        # Stored at once, the file pending (where Twilio has it; never the inbox's token).
        assert message.text == "Bildet av måleren"
        assert message.attachments.count() == 0
        assert "attachment_errors" not in message.content
        (pending,) = message.content["attachment_pending"]
        assert pending["filename"] == "ME1.jpg"
        assert pending["url"].endswith("/Messages/SM1/Media/ME1")
        assert test_sms.AUTH_TOKEN not in str(message.content)
        (queued,) = refetches()
        assert queued.args_kwargs["args"] == [message.pk, 1]
        assert timedelta(seconds=50) < queued.run_after - timezone.now() <= timedelta(minutes=1)

        kari = create_agent("kari", team=inbox.default_team, display_name="Kari")
        client.force_login(kari)
        desk = reverse("desk:conversation", args=[message.conversation_id])
        page = client.get(desk).content.decode()
        assert "ME1.jpg: the provider did not answer; fetching it again" in page

        run_tasks()  # not due yet: nothing is fetched
        assert len(fake.requests) == 1

        the_next_try_is_due()
        fake.respond(200, **PICTURE)
        with capture_events(expected=["message.updated"]) as sent:
            run_tasks()

    message.refresh_from_db()
    (picture,) = message.attachments.all()
    assert (picture.filename, picture.content_type, picture.size) == (
        "ME1.jpg",
        "image/jpeg",
        len(JPEG),
    )
    assert "attachment_pending" not in message.content
    assert "attachment_errors" not in message.content
    assert not refetches().filter(status="READY").exists()
    [(event, _recipients)] = sent
    assert event.staff["id"] == message.pk
    page = client.get(desk).content.decode()
    assert "ME1.jpg</a>" in page
    assert "fetching it again" not in page


def test_the_same_try_run_twice_attaches_the_file_once_and_schedules_once(client):
    with FakeProvider() as fake:
        _inbox, message = mms_arrives(client, fake)
        # The try after a minute: the provider is still busy, and the task is run twice (a
        # worker died after running it and it was requeued).
        fake.respond(503, **BUSY)
        fake.respond(503, **BUSY)
        the_next_try_is_due()
        run_tasks()
        actions.do_refetch_attachments(message.pk, 1)
        assert len(fake.requests) == 3
        assert [t.args_kwargs["args"] for t in refetches().filter(status="READY")] == [
            [message.pk, 2]
        ]

        # The second try gets the picture; run again, it finds nothing left to fetch.
        fake.respond(200, **PICTURE)
        the_next_try_is_due()
        run_tasks()
        assert actions.do_refetch_attachments(message.pk, 2) == "nothing pending"
        assert len(fake.requests) == 4
    assert message.attachments.count() == 1

    # Two workers that both downloaded it before either stored it: the second stores nothing.
    other = Message.objects.get(pk=message.pk)
    entry = {"n": 0, "attempts": 2, "filename": "again.jpg", "url": "x"}
    Message.objects.filter(pk=message.pk).update(
        content={**other.content, "attachment_pending": [entry]}
    )
    picture = prepare_attachment("again.jpg", "image/jpeg", JPEG)
    do_settle_pending_attachments(message.pk, {0: picture}, attempt=2)
    do_settle_pending_attachments(message.pk, {0: picture}, attempt=2)
    assert Attachment.objects.filter(message=message, filename="again.jpg").count() == 1


def test_a_refusal_on_the_next_try_becomes_the_final_note(client):
    with FakeProvider() as fake:
        _inbox, message = mms_arrives(client, fake)
        fake.respond(404, raw=b"Not Found", headers={"Content-Type": "text/plain"})
        the_next_try_is_due()
        run_tasks()
    message.refresh_from_db()
    assert message.attachments.count() == 0
    assert "attachment_pending" not in message.content
    assert message.content["attachment_errors"] == [
        "ME1.jpg: could not be fetched (media download: HTTP 404)"
    ]
    assert not refetches().filter(status="READY").exists()


def test_a_provider_still_busy_after_the_last_try_is_given_up_with_its_reason(client):
    with FakeProvider() as fake:
        _inbox, message = mms_arrives(client, fake)
        waits = []
        for _ in range(5):
            fake.respond(503, **BUSY)
            waits.append(round(the_next_try_is_due() / timedelta(minutes=1)))
            run_tasks()
        assert len(fake.requests) == 6  # on receipt, then five more tries
    assert waits == [1, 5, 15, 60, 240]
    message.refresh_from_db()
    assert "attachment_pending" not in message.content
    assert message.content["attachment_errors"] == [
        "ME1.jpg: could not be fetched (media download: HTTP 503)"
    ]
    assert not refetches().filter(status="READY").exists()


def test_an_inbox_deleted_meanwhile_gives_its_files_up_without_a_try(client):
    with FakeProvider() as fake:
        _inbox, message = mms_arrives(client, fake)
        Message.objects.filter(pk=message.pk).update(inbox=None)  # the inbox's row deleted
        the_next_try_is_due()
        run_tasks()
        assert len(fake.requests) == 1
    message.refresh_from_db()
    assert message.content["attachment_errors"] == [
        "ME1.jpg: could not be fetched (the inbox was removed)"
    ]


class _WorkerDies:
    """The process dies between storing the message and queueing its refetch."""

    def using(self, **options):
        return self

    def enqueue(self, *args):
        raise RuntimeError("the worker died here")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_message_and_its_refetch_commit_together(client, monkeypatch):
    """Had the message committed alone, a crash right after it would lose the file for good:
    the stored event is replayed, but a message already stored is not fetched again."""
    with FakeProvider() as fake:
        monkeypatch.setattr(actions, "refetch_attachments", _WorkerDies())
        _inbox, _fields, event = busy_mms_acknowledged(client, fake)
        assert process_event(event.pk) == "failed"
        assert not Message.objects.exists()
        assert not refetches().exists()

        monkeypatch.undo()
        fake.respond(503, **BUSY)
        assert process_event(event.pk) == "processed"
    message = Message.objects.get()
    assert message.content["attachment_pending"][0]["filename"] == "ME1.jpg"
    assert [t.args_kwargs["args"] for t in refetches()] == [[message.pk, 1]]
