"""The channel pipeline every connector plugs into, driven through a fake provider: webhooks in
(verify → store → 2xx → process in a task), the outbox out (retry, fail, receipts), and what the
agent sees of it."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import backoff_seconds
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Attachment, Conversation, Inbox, Message
from teamline.conversations.replies import do_send_reply
from teamline.core.errors import InvalidInput
from teamline.core.events import EventType
from teamline.core.testing import capture_events
from teamline.customers.models import Customer, Identity

from .support import post_event, run_tasks, sign

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sms(event_id: str, text: str = "My data stopped working", **extra):
    message = {"id": f"SM{event_id}", "from": "+47 912 34 567", "text": text, **extra}
    return {"id": event_id, "messages": [message]}


def receipt(event_id: str, provider_id: str, status: str, error: str = ""):
    return {"id": event_id, "statuses": [{"id": provider_id, "status": status, "error": error}]}


# --- Inbound ----------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_genuine_webhook_is_stored_answered_and_processed_into_one_message(
    client, sms_inbox, kari
):
    response = post_event(client, sms_inbox, sms("e1"), **{"X-Telegram-Bot-Api-Secret-Token": "x"})

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.provider, event.external_id, event.status) == ("fake", "e1", "pending")
    assert bytes(event.body) == json.dumps(sms("e1")).encode()  # raw, for replay
    assert "x-fake-signature" in event.headers
    assert "x-telegram-bot-api-secret-token" not in event.headers  # credentials never stored
    assert event.request_meta["url"] == f"http://testserver/webhooks/fake/{sms_inbox.public_id}/"
    assert not Message.objects.exists()  # nothing processed in the request

    with capture_events() as events:
        run_tasks()

    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 1
    message = Message.objects.get()
    assert (message.channel, message.external_id, message.inbox) == ("sms", "SMe1", sms_inbox)
    assert message.text == "My data stopped working"
    assert message.content["sender"] == {"kind": "phone", "value": "+4791234567", "verified": True}
    customer = message.conversation.customer
    assert customer.home_team_id == sms_inbox.default_team_id
    assert list(customer.identities.values_list("kind", "value", "verified")) == [
        ("phone", "+4791234567", True)
    ]
    assert message.conversation.assignee == kari  # routed like any other conversation
    assert EventType.MESSAGE_CREATED in [e.type for e, _ in events]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_forged_webhooks_are_rejected_and_leave_nothing_behind(client, sms_inbox):
    body = sms("e1")
    missing = client.post(
        f"/webhooks/fake/{sms_inbox.public_id}/", data=json.dumps(body), content_type="text/plain"
    )
    wrong_secret = post_event(client, sms_inbox, body, secret="guessed")
    tampered = client.post(
        f"/webhooks/fake/{sms_inbox.public_id}/",
        data=json.dumps(sms("e1", "Send me the PUK")),
        content_type="application/json",
        headers={"X-Fake-Signature": sign(json.dumps(body).encode())},
    )

    assert missing.status_code == 401
    assert wrong_secret.status_code == 403
    assert tampered.status_code == 403
    assert not WebhookEvent.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_an_inbox_without_a_secret_fails_closed(client, sms_inbox):
    sms_inbox.credentials = {}
    sms_inbox.save()
    assert post_event(client, sms_inbox, sms("e1")).status_code == 403
    assert not WebhookEvent.objects.exists()


def test_unknown_provider_inbox_or_kind_is_not_found(client, sms_inbox, chat_inbox):
    body = sms("e1")
    assert client.post("/webhooks/nope/" + str(sms_inbox.public_id) + "/").status_code == 404
    assert client.post("/webhooks/fake/not-a-uuid/", data=body).status_code == 404
    assert (
        client.post("/webhooks/fake/6f1c1f0e-8c7a-4f4e-9a55-0c0ffee00000/", data=body).status_code
        == 404
    )
    assert post_event(client, chat_inbox, body).status_code == 404  # web chat: not this provider
    sms_inbox.is_active = False
    sms_inbox.save()
    assert post_event(client, sms_inbox, body).status_code == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_delivery_is_answered_2xx_and_changes_nothing(client, sms_inbox):
    first = post_event(client, sms_inbox, sms("e1"))
    run_tasks()
    again = post_event(client, sms_inbox, sms("e1"))
    run_tasks()
    # The provider retried before our first answer reached it: a second event id, same message.
    retried = post_event(client, sms_inbox, {**sms("e1"), "id": "e1-retry"})
    run_tasks()

    assert (first.status_code, again.status_code, retried.status_code) == (200, 200, 200)
    assert WebhookEvent.objects.count() == 2
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_a_provider_handshake_is_answered_only_with_the_right_token(client, sms_inbox):
    url = f"/webhooks/fake/{sms_inbox.public_id}/"
    ok = client.get(url, {"token": "verify-me", "challenge": "1158201444"})
    bad = client.get(url, {"token": "guess", "challenge": "1158201444"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    assert bad.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_an_oversized_body_is_refused_before_anything_else(client, sms_inbox, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "WEBHOOK_MAX_BYTES": 100}
    response = post_event(client, sms_inbox, sms("e1", "x" * 200))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_the_signed_url_honours_forwarded_headers_only_behind_a_configured_proxy(
    client, sms_inbox, fake, settings
):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "desk.example.com"}
    post_event(client, sms_inbox, sms("e1"), **forwarded)
    assert fake.requests[-1].url.startswith("http://testserver/webhooks/fake/")

    settings.TEAMLINE = {**settings.TEAMLINE, "BEHIND_PROXY": True}
    post_event(client, sms_inbox, sms("e2"), **forwarded)
    assert fake.requests[-1].url == f"https://desk.example.com/webhooks/fake/{sms_inbox.public_id}/"


def test_a_path_suffix_reaches_the_connector(client, sms_inbox, fake):
    body = json.dumps(receipt("r1", "x", "sent")).encode()
    client.post(
        f"/webhooks/fake/{sms_inbox.public_id}/status?x=1",
        data=body,
        content_type="application/json",
        headers={"X-Fake-Signature": sign(body)},
    )
    assert fake.requests[-1].path_suffix == "status"
    assert fake.requests[-1].query == {"x": ["1"]}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_failed_event_is_kept_and_can_be_replayed(client, sms_inbox, fake, monkeypatch):
    def broken(inbox, request):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(fake, "parse", broken)
    post_event(client, sms_inbox, sms("e1"))
    run_tasks()
    event = WebhookEvent.objects.get()
    assert event.status == "failed" and "parser bug" in event.error
    assert not Message.objects.exists()
    with pytest.raises(CommandError, match="failed again"):
        call_command("webhooks", "replay", "--failed")

    monkeypatch.undo()  # the bug is fixed
    call_command("webhooks", "replay", "--failed")
    call_command("webhooks", "replay", "--id", str(event.pk))  # idempotent

    event.refresh_from_db()
    assert event.status == "processed" and event.error == ""
    assert Message.objects.count() == 1


def test_an_event_with_nothing_to_process_is_marked_ignored(client, sms_inbox):
    post_event(client, sms_inbox, {"id": "ping-1"})
    run_tasks()
    assert WebhookEvent.objects.get().status == "ignored"
    assert WebhookEvent.objects.get().error == "a fake ping"


def test_an_unverified_sender_is_a_new_customer_or_flagged_on_the_owner(client, email_inbox):
    owner = Customer.objects.create(name="Astrid")
    Identity.objects.create(customer=owner, kind="email", value="astrid@example.com")
    for n, sender in enumerate(["Astrid@Example.com", "someone@example.org"]):
        message = {"id": f"mail-{n}", "from": sender, "kind": "email", "verified": False}
        post_event(client, email_inbox, {"id": f"m{n}", "messages": [{**message, "text": "Hi"}]})
    run_tasks()

    to_owner, to_new = Message.objects.order_by("pk")
    assert to_owner.conversation.customer == owner  # the reply goes back to that address
    assert to_owner.content["sender"]["verified"] is False
    assert to_owner.conversation.channel_kind == "email"
    stranger = to_new.conversation.customer
    assert stranger != owner
    assert stranger.identities.get().verified is False
    assert owner.identities.count() == 1  # nothing was added to the owner


def test_an_automated_reply_never_reopens_or_routes(client, sms_inbox, kari):
    post_event(client, sms_inbox, sms("e1"))
    run_tasks()
    conversation = Conversation.objects.get()
    do_change_status(conversation, "resolved", actor=kari)

    payload = sms("e2", "I am out of office until Monday", automated=True)
    post_event(client, sms_inbox, payload)
    run_tasks()

    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.unread_count == 0
    auto = Message.objects.get(external_id="SMe2")
    assert (auto.sender_kind, auto.automated) == ("system", True)


# --- Delivery receipts and the outbox ---------------------------------------------------------


def sms_conversation(client, sms_inbox) -> Conversation:
    post_event(client, sms_inbox, sms("e1"))
    run_tasks()
    return Conversation.objects.get()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_reply_goes_through_the_outbox_and_receipts_move_it_forward_only(
    client, sms_inbox, kari, fake
):
    conversation = sms_conversation(client, sms_inbox)
    reply, _ = do_send_reply(conversation, "We are on it", actor=kari)
    assert (reply.channel, reply.delivery_status) == ("sms", "queued")
    assert DBTaskResult.objects.filter(task_path__endswith="deliver_message").exists()

    with capture_events() as events:
        run_tasks()
        reply.refresh_from_db()
        assert (reply.delivery_status, reply.provider_message_id) == ("sent", f"fake-{reply.pk}")
        assert reply.segments == 2
        [sent] = fake.sent
        assert (sent.to, sent.text, sent.message_id) == ("+4791234567", "We are on it", reply.pk)
        assert sent.extra["in_reply_to"] == "SMe1"

        for n, status in enumerate(["delivered", "sent", "failed", "read"]):
            post_event(client, sms_inbox, receipt(f"r{n}", f"fake-{reply.pk}", status, "late"))
            run_tasks()

    reply.refresh_from_db()
    assert reply.delivery_status == "read" and reply.delivery_error == ""
    updates = [e for e, _ in events if e.type == EventType.MESSAGE_UPDATED]
    assert [u.staff["delivery_status"] for u in updates] == ["sent", "delivered", "read"]
    assert all(u.customer is None for u in updates)  # delivery receipts are staff-only
    assert all(not r.customer for e, r in events if e.type == EventType.MESSAGE_UPDATED)


def test_a_receipt_that_overtakes_the_send_is_looked_at_again(client, sms_inbox):
    post_event(client, sms_inbox, receipt("r1", "fake-unknown", "delivered"))
    run_tasks()
    event = WebhookEvent.objects.get()
    assert event.status == "pending"
    later = DBTaskResult.objects.filter(status="READY").get()
    assert later.run_after > timezone.now()
    for _ in range(4):
        DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
        run_tasks()
    event.refresh_from_db()
    assert event.status == "ignored"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_with_backoff_then_delivered(client, sms_inbox, kari, fake):
    conversation = sms_conversation(client, sms_inbox)
    fake.outcomes.extend(["transient", "transient"])
    reply, _ = do_send_reply(conversation, "We are on it", actor=kari)

    run_tasks()
    reply.refresh_from_db()
    assert reply.delivery_status == "queued" and reply.delivery_attempts == 1
    assert reply.delivery_error == "Retrying: provider answered 503"
    retry = DBTaskResult.objects.get(status="READY")
    wait = (retry.run_after - timezone.now()).total_seconds()
    assert 7 <= wait <= 12.5  # 10 s ± 20 %

    for _ in (2, 3):
        DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
        run_tasks()
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_attempts) == ("sent", 3)
    assert len(fake.sent) == 3
    assert reply.delivery_error == ""


def test_backoff_grows_exponentially_and_is_capped():
    assert 8 <= backoff_seconds(1) <= 12
    assert 32 <= backoff_seconds(3) <= 48
    assert backoff_seconds(30) <= 3600 * 1.2


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_permanent_error_fails_the_message_with_the_reason_shown_to_the_agent(
    client, sms_inbox, kari, fake
):
    conversation = sms_conversation(client, sms_inbox)
    fake.outcomes.append("permanent")
    reply, _ = do_send_reply(conversation, "We are on it", actor=kari)
    run_tasks()

    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.delivery_error == "21211: the number is not a mobile number"
    assert not DBTaskResult.objects.filter(status="READY").exists()
    client.force_login(kari)
    page = client.get(reverse("desk:conversation", args=[conversation.pk])).content.decode()
    assert "Delivery failed: 21211: the number is not a mobile number." in page
    # The live update re-renders just that message.
    one = client.get(
        reverse("desk:conversation", args=[conversation.pk]),
        headers={"HX-Request": "true", "HX-Target": f"message-{reply.pk}"},
    ).content.decode()
    assert f'id="message-{reply.pk}"' in one and "Delivery failed" in one
    assert "My data stopped working" not in one


def test_too_many_transient_errors_fail_the_message(client, sms_inbox, kari, fake, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "OUTBOX_MAX_ATTEMPTS": 2}
    conversation = sms_conversation(client, sms_inbox)
    fake.outcomes.extend(["transient", "transient", "ok"])
    reply, _ = do_send_reply(conversation, "We are on it", actor=kari)
    for _ in range(3):
        DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
        run_tasks()
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.delivery_error == "Gave up after 2 attempts: provider answered 503"
    assert len(fake.sent) == 2


def test_running_a_delivery_twice_sends_once(client, sms_inbox, kari, fake):
    from teamline.connectors.tasks import deliver

    conversation = sms_conversation(client, sms_inbox)
    reply, _ = do_send_reply(conversation, "We are on it", actor=kari)
    assert deliver(reply.pk) == "sent"
    assert deliver(reply.pk) == "nothing to do"  # e.g. a requeued task after a crash
    assert len(fake.sent) == 1


def test_web_chat_replies_stay_on_the_socket(chat_inbox, kari, fake):
    from teamline.core.testing import create_customer, customer_says

    message, _ = customer_says(create_customer(team=chat_inbox.default_team), inbox=chat_inbox)
    reply, _ = do_send_reply(message.conversation, "Hello!", actor=kari)
    assert (reply.channel, reply.delivery_status) == ("webchat", "sent")
    assert not DBTaskResult.objects.filter(task_path__endswith="deliver_message").exists()


# --- Reply channels ---------------------------------------------------------------------------


def test_the_agent_can_pick_another_reachable_channel_but_not_an_unreachable_one(
    client, sms_inbox, email_inbox, kari, fake
):
    from teamline.conversations.queries import reachable_channels
    from teamline.customers.actions import do_add_identity

    conversation = sms_conversation(client, sms_inbox)
    customer = conversation.customer
    do_add_identity(customer, "email", "astrid@example.com", verified=True)
    options = reachable_channels(customer)
    assert [(o.channel, o.to, o.last_used) for o in options] == [
        ("sms", "+4791234567", True),
        ("email", "astrid@example.com", False),
    ]

    by_email, _ = do_send_reply(conversation, "Details by mail", actor=kari, via=options[1].key)
    assert (by_email.channel, by_email.inbox, by_email.content["to"]["value"]) == (
        "email",
        email_inbox,
        "astrid@example.com",
    )

    fake.opted_out.add("+4791234567")
    [sms_option, _] = reachable_channels(customer)
    assert sms_option.reachability.reason == "opted out (STOP)"
    with pytest.raises(InvalidInput, match="opted out"):
        do_send_reply(conversation, "Hi", actor=kari, via=sms_option.key)
    with pytest.raises(InvalidInput):
        do_send_reply(conversation, "Hi", actor=kari, via="999:sms:+4700000000")
    # With the last used channel out of reach, the default is the next reachable one.
    default, _ = do_send_reply(conversation, "Default", actor=kari)
    assert default.channel == "email"

    client.force_login(kari)
    page = client.get(reverse("desk:conversation", args=[conversation.pk])).content.decode()
    assert '<label for="reply-via">Reply via</label>' in page
    assert "unavailable: opted out (STOP)" in page
    assert "disabled" in page


# --- Attachments ------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_attachments_are_checked_by_content_and_served_only_to_staff_who_may_see_them(
    client, sms_inbox, kari, bjorn, fake
):
    fake.media["media-1"] = PNG
    html = base64.b64encode(b"<!doctype html><script>alert(1)</script>").decode()
    exe = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60).decode()
    attachments = [
        {"filename": "../../photo.png", "type": "image/png", "media_id": "media-1"},
        {"filename": "invoice.pdf", "type": "application/pdf", "b64": html},
        {"filename": "setup.exe", "type": "application/x-msdownload", "b64": exe},
        {"filename": "gone.jpg", "type": "image/jpeg", "media_id": "expired"},
    ]
    post_event(client, sms_inbox, sms("e1", "", attachments=attachments))
    run_tasks()

    message = Message.objects.get()
    photo, disguised = Attachment.objects.order_by("pk")
    assert (photo.filename, photo.content_type, photo.size) == ("photo.png", "image/png", len(PNG))
    assert "photo" not in photo.file.name  # stored under a random name
    assert (disguised.content_type, disguised.declared_type) == (
        "application/octet-stream",
        "application/pdf",
    )
    errors = message.content["attachment_errors"]
    assert errors[0] == "setup.exe: executable files are not accepted"
    assert errors[1].startswith("gone.jpg: could not be fetched (media expired)")

    client.force_login(kari)
    shown = client.get(reverse("desk:attachment", args=[photo.pk]))
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert shown["Content-Disposition"].startswith("inline")
    assert b"".join(shown.streaming_content) == PNG
    download = client.get(reverse("desk:attachment", args=[disguised.pk]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download["Content-Security-Policy"]
    page = client.get(reverse("desk:conversation", args=[message.conversation_id]))
    assert b"photo.png</a>" in page.content and b"download only" in page.content

    client.force_login(bjorn)
    assert client.get(reverse("desk:attachment", args=[photo.pk])).status_code == 404
    assert client.get(reverse("desk:attachment", args=[999999])).status_code == 404
    client.logout()
    assert client.get(reverse("desk:attachment", args=[photo.pk])).status_code == 302


def test_sniffing_knows_the_common_types():
    from teamline.conversations.attachments import sniff

    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"%PDF-1.7 ...") == "application/pdf"
    assert sniff(b"OggS\x00\x02") == "audio/ogg"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff("Hei, dette er en tekst. 你好".encode()) == "text/plain"
    assert sniff(b'<?xml version="1.0"?><svg xmlns="x"/>') == "application/octet-stream"
    assert sniff(b"  <svg onload=alert(1)>") == "application/octet-stream"
    assert sniff(b"\x7fELF\x02\x01") is None
    assert sniff(b"#!/bin/sh\nrm -rf /") is None


def test_an_attachment_over_the_size_limit_is_noted_not_stored(client, sms_inbox, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "ATTACHMENT_MAX_BYTES": 10}
    png = base64.b64encode(PNG).decode()
    post_event(client, sms_inbox, sms("e1", "see photo", attachments=[{"b64": png}]))
    run_tasks()
    assert not Attachment.objects.exists()
    assert "over the 10-byte limit" in Message.objects.get().content["attachment_errors"][0]


def test_old_events_stay_unique_per_inbox_not_globally(client, sms_inbox, oslo):
    from .support import create_provider_inbox

    other = create_provider_inbox(oslo, "sms", name="Second number")
    post_event(client, sms_inbox, sms("e1"))
    post_event(client, other, {"id": "e1", "messages": []})
    assert WebhookEvent.objects.count() == 2
    assert WebhookEvent.objects.filter(received_at__gt=timezone.now() - timedelta(minutes=1))


def test_stop_and_start_keep_the_opt_out_list_the_sms_connector_reads(client, sms_inbox):
    post_event(client, sms_inbox, sms("e1", "STOP", content={"keyword": "stop"}))
    run_tasks()
    customer = Customer.objects.get()
    assert customer.attributes["sms_opt_out"] == ["+4791234567"]
    post_event(client, sms_inbox, sms("e2", "Start", content={"keyword": "start"}))
    run_tasks()
    customer.refresh_from_db()
    assert customer.attributes["sms_opt_out"] == []


def test_credentials_are_reencrypted_with_the_newest_key(sms_inbox, monkeypatch):
    from cryptography.fernet import Fernet

    from teamline.core import crypto

    old = sms_inbox.credentials_encrypted
    new_key, old_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto._fernet.cache_clear()
    monkeypatch.setenv("TEAMLINE_ENCRYPTION_KEY", old_key)
    sms_inbox.credentials = {"secret": "s3cret-key"}
    sms_inbox.save()
    crypto._fernet.cache_clear()
    monkeypatch.setenv("TEAMLINE_ENCRYPTION_KEY", f"{new_key},{old_key}")
    try:
        call_command("rotate_credentials")
        sms_inbox.refresh_from_db()
        assert sms_inbox.credentials_encrypted != old
        crypto._fernet.cache_clear()
        monkeypatch.setenv("TEAMLINE_ENCRYPTION_KEY", new_key)  # the old key is gone
        assert Inbox.objects.get(pk=sms_inbox.pk).credentials == {"secret": "s3cret-key"}
    finally:
        monkeypatch.delenv("TEAMLINE_ENCRYPTION_KEY")
        crypto._fernet.cache_clear()


def test_every_inbound_path_stores_through_one_action_that_absorbs_retries(sms_inbox):
    from teamline.connectors.actions import do_store_webhook_event

    def store():
        return do_store_webhook_event(
            sms_inbox,
            provider="fake",
            external_id="e1",
            body=b"{}",
            headers={"content-type": "application/json"},
            request_meta={"method": "POST", "url": "", "path_suffix": "", "query": {}},
        )

    event, created = store()
    assert created and DBTaskResult.objects.count() == 1  # stored and enqueued together
    again, created_again = store()
    assert (again, created_again) == (event, False)
    assert DBTaskResult.objects.count() == 1
