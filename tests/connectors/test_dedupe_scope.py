"""Provider ids are only unique inside one provider account: every dedupe key is scoped to the
inbox it arrived on, so two bots, two numbers or two mailboxes never swallow each other's
customers' messages — and a retry on the same inbox is still absorbed."""

from __future__ import annotations

import json
from email.message import EmailMessage

import pytest

from teamline.connectors.email import ingest_raw_email
from teamline.connectors.email_parts.smtpd import deliver
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.delivery import do_update_delivery_status
from teamline.conversations.models import DeliveryStatus, Inbox, Message
from teamline.core.testing import create_team

from .support import create_provider_inbox, post_event, run_tasks

# A private chat's id is the user's id for every bot, and message ids count per chat: two bots
# of the same brand see the very same pair for two different messages of one customer.
USER = {"id": 1046298765, "is_bot": False, "first_name": "Kari"}
CHAT = {"id": 1046298765, "type": "private"}


def telegram_bot(name: str, secret: str) -> Inbox:
    inbox = Inbox.objects.create(name=name, kind="telegram", default_team=create_team(name))
    inbox.credentials = {"bot_token": f"1:{secret}", "secret_token": secret}
    inbox.save()
    return inbox


def telegram_update(client, inbox: Inbox, secret: str, update_id: int, text: str):
    body = {
        "update_id": update_id,
        "message": {"message_id": 7, "from": USER, "chat": CHAT, "date": 1735725600, "text": text},
    }
    return client.post(
        f"/webhooks/telegram/{inbox.public_id}/",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
    )


@pytest.mark.integration
@pytest.mark.django_db
def test_two_telegram_bots_receiving_the_same_chat_and_message_id_store_two_messages(client):
    sales = telegram_bot("Sales bot", "sales-secret")
    care = telegram_bot("Care bot", "care-secret")

    assert (
        telegram_update(client, sales, "sales-secret", 500, "I want the new plan").status_code
        == 200
    )
    assert telegram_update(client, care, "care-secret", 900, "My data stopped").status_code == 200
    run_tasks()

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    stored = Message.objects.filter(channel="telegram", external_id="1046298765:7")
    assert sorted(stored.values_list("inbox__name", "text")) == [
        ("Care bot", "My data stopped"),
        ("Sales bot", "I want the new plan"),
    ]

    # Each bot's own retry (the same update again, replayed) is still absorbed.
    for event in WebhookEvent.objects.all():
        process_event(event.pk, force=True)
    assert stored.count() == 2


def email(message_id: str, text: str, to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Alice Example <alice@example.com>"
    mail["To"] = to
    mail["Subject"] = "Roaming in Spain"
    mail["Message-ID"] = message_id
    mail.set_content(text)
    return mail.as_bytes()


def mailbox(name: str, address: str) -> Inbox:
    return Inbox.objects.create(
        name=name, kind="email", default_team=create_team(name), config={"address": address}
    )


@pytest.mark.integration
@pytest.mark.django_db
def test_one_email_to_two_inboxes_is_a_message_in_each(client):
    support = mailbox("Support", "support@brand.test")
    billing = mailbox("Billing", "billing@brand.test")
    raw = email(
        "<roaming-1@example.com>", "Is roaming included?", "support@brand.test, billing@brand.test"
    )

    results = deliver(raw, "alice@example.com", ["support@brand.test", "billing@brand.test"])
    assert [r.created for r in results] == [True, True]
    run_tasks()

    stored = Message.objects.filter(channel="email", external_id="<roaming-1@example.com>")
    assert sorted(stored.values_list("inbox__name", flat=True)) == ["Billing", "Support"]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}

    # The MTA retries the delivery to Support: absorbed there, nothing new anywhere.
    again = ingest_raw_email(support, raw, source="smtp")
    assert not again.created
    run_tasks()
    assert stored.count() == 2
    assert billing.webhook_events.count() == 1


@pytest.mark.django_db
def test_a_resent_message_on_one_inbox_is_still_absorbed(client, sms_inbox, oslo):
    other = create_provider_inbox(oslo, "sms", name="Second number")
    payload = {"id": "e1", "messages": [{"id": "SM1", "from": "+4791234567", "text": "Hei"}]}
    post_event(client, sms_inbox, payload)
    post_event(client, other, payload)
    post_event(client, sms_inbox, {**payload, "id": "e2"})  # same message id, new delivery
    run_tasks()
    assert sorted(Message.objects.values_list("inbox__name", flat=True)) == [
        "Nordlys SMS",
        "Second number",
    ]


@pytest.mark.django_db
def test_a_delivery_receipt_only_moves_the_message_sent_through_that_inbox(client, oslo, fake):
    first = create_provider_inbox(oslo, "sms", name="First number")
    second = create_provider_inbox(oslo, "sms", name="Second number")
    for inbox in (first, second):
        post_event(client, inbox, {"id": "e1", "messages": [{"id": "SM1", "from": "+4791234567"}]})
    run_tasks()
    conversation = Message.objects.first().conversation
    sent = {}
    for inbox in (first, second):
        sent[inbox.pk] = Message.objects.create(
            conversation=conversation,
            direction="out",
            sender_kind="agent",
            channel="sms",
            inbox=inbox,
            text="Hei!",
            delivery_status=DeliveryStatus.SENT,
            # Providers with per-account ids can hand both accounts the same id.
            provider_message_id="42",
        )

    do_update_delivery_status("sms", "42", DeliveryStatus.DELIVERED, inbox=second)

    sent[first.pk].refresh_from_db()
    sent[second.pk].refresh_from_db()
    assert sent[first.pk].delivery_status == DeliveryStatus.SENT
    assert sent[second.pk].delivery_status == DeliveryStatus.DELIVERED
