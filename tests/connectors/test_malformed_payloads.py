"""A genuine (signed) delivery whose payload is not what the provider documents is kept and
marked `ignored` with a reason an admin can read; it never ends `failed` as if retrying could
help, and it never takes the worker down. A transient failure still ends `failed`, to replay."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone

from teamline.connectors import actions as connector_actions
from teamline.connectors import wechat
from teamline.connectors.base import MalformedPayload
from teamline.connectors.models import WebhookEvent
from teamline.connectors.sms import twilio_signature
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Inbox, Message
from teamline.conversations.queries import reachable_channels
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import create_agent, create_team
from teamline.customers.models import Identity

from .fake_provider import FakeProvider
from .support import post_event, run_tasks

SECRET = "tl_Secret-token_0123456789"
AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
USER = {"id": 1046298765, "is_bot": False, "first_name": "Kari"}
CHAT = {"id": 1046298765, "type": "private"}


@pytest.fixture
def bot(db) -> Inbox:
    inbox = Inbox.objects.create(name="Care bot", kind="telegram", default_team=create_team("Oslo"))
    inbox.credentials = {"bot_token": "1:abc", "secret_token": SECRET}
    inbox.save()
    return inbox


@pytest.fixture
def number(db) -> Inbox:
    inbox = Inbox.objects.create(
        name="Nordlys SMS",
        kind="sms",
        default_team=create_team("Bergen"),
        config={"from_number": "+4740000000"},
    )
    inbox.credentials = {"account_sid": "AC123", "auth_token": AUTH_TOKEN}
    inbox.save()
    return inbox


def telegram(client, bot: Inbox, message: dict[str, Any], update_id: int = 1) -> WebhookEvent:
    body = json.dumps({"update_id": update_id, "message": message})
    response = client.post(
        f"/webhooks/telegram/{bot.public_id}/",
        data=body,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200  # signed: acked, and stored
    event = WebhookEvent.objects.get(inbox=bot, external_id=str(update_id))
    process_event(event.pk)
    event.refresh_from_db()
    return event


def text_message(**changes: Any) -> dict[str, Any]:
    return {
        "message_id": 7,
        "from": USER,
        "chat": CHAT,
        "date": 1735725600,
        "text": "Hei",
        **changes,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"text": 42}, "message.text"),
        ({"text": ["Hei"]}, "message.text"),
        ({"message_id": "7"}, "message.message_id"),
        ({"message_id": True}, "message.message_id"),
        ({"from": {**USER, "id": "1046298765"}}, "message.from.id"),
        ({"from": {**USER, "first_name": {"x": 1}}}, "message.from.first_name"),
        ({"from": "Kari"}, "message.from"),
        ({"chat": {"id": None, "type": "private"}}, "message.chat.id"),
        ({"chat": [1]}, "message.chat"),
        ({"date": 10**20}, "message.date"),
        ({"date": -5}, "message.date"),
        ({"date": 4102444800 * 10}, "message.date"),  # year 3000 and beyond
        ({"date": "2025-01-01"}, "message.date"),
        ({"caption": 3, "text": None}, "message.caption"),
        ({"photo": [{"file_id": 5}]}, "message.photo[0].file_id"),
        ({"photo": "big"}, "message.photo"),
        ({"document": {"file_id": "BQ", "file_name": 9}}, "message.document.file_name"),
        ({"location": {"latitude": "north", "longitude": 10.7}}, "message.location.latitude"),
        ({"location": {"latitude": 123.0, "longitude": 10.7}}, "message.location.latitude"),
        ({"contact": {"phone_number": 4791234567, "first_name": "K"}}, "message.contact"),
        ({"reply_to_message": {"message_id": "1"}}, "message.reply_to_message.message_id"),
    ],
)
def test_a_telegram_message_with_fields_of_the_wrong_type_is_ignored_with_the_reason(
    client, bot, changes, reason
):
    event = telegram(client, bot, text_message(**changes))

    assert event.status == "ignored"
    assert "malformed Telegram payload" in event.error
    assert reason in event.error
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_telegram_update_whose_message_is_not_an_object_is_ignored(client, bot):
    event = telegram(client, bot, "Hei")  # type: ignore[arg-type]
    assert (event.status, "message" in event.error) == ("ignored", True)


@pytest.mark.django_db
def test_a_well_formed_telegram_message_next_to_them_is_stored(client, bot):
    event = telegram(client, bot, text_message(date=1735725600, text="Hei 👋"))
    assert event.status == "processed"
    assert Message.objects.get().text == "Hei 👋"


def twilio(client, number: Inbox, **fields: str) -> WebhookEvent:
    form = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC123", "To": "+4740000000"}
    form.update(fields)
    url = f"http://testserver/webhooks/twilio/{number.public_id}/"
    signature = twilio_signature(AUTH_TOKEN, url, list(form.items()))
    response = client.post(
        url,
        data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get(inbox=number, external_id=form["MessageSid"])
    process_event(event.pk)
    event.refresh_from_db()
    return event


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("NORDLYS", "alphanumeric sender ID 'NORDLYS'"),
        ("Bank-Info", "alphanumeric sender ID 'Bank-Info'"),
        ("26777", "short code '26777'"),
        ("+999123", "not a phone number"),
        ("+47 abc", "not a phone number"),
        ("messenger:1234567890", "'messenger' through Twilio is not handled"),
    ],
)
def test_an_sms_from_something_that_is_not_a_phone_number_is_ignored_with_the_reason(
    client, number, sender, reason
):
    event = twilio(client, number, From=sender, Body="Your code is 1234")

    assert event.status == "ignored"
    assert reason in event.error
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_whatsapp_through_twilio_is_a_whatsapp_message_from_the_customers_phone(client, number):
    event = twilio(
        client,
        number,
        From="whatsapp:+4791234567",
        To="whatsapp:+4740000000",
        WaId="4791234567",
        ProfileName="Kari N",
        Body="STOP",
        NumMedia="0",
    )

    assert event.status == "processed"
    message = Message.objects.get()
    assert (message.channel, message.inbox) == ("whatsapp", number)
    assert message.content["sender"] == {"kind": "phone", "value": "+4791234567", "verified": True}
    assert message.content["sender_name"] == "Kari N"
    assert Identity.objects.get().value == "+4791234567"
    # STOP on WhatsApp is not the carrier keyword: the customer's SMS stays reachable.
    assert "sms_opt_out" not in message.conversation.customer.attributes


@pytest.mark.django_db
def test_whatsapp_through_twilio_with_a_wa_id_of_another_number_is_ignored(client, number):
    event = twilio(
        client, number, From="whatsapp:+4791234567", WaId="4799999999", Body="Hei", NumMedia="0"
    )
    assert event.status == "ignored"
    assert "WaId" in event.error


@pytest.mark.django_db
def test_a_transient_failure_while_storing_still_ends_failed_to_be_replayed(
    client, bot, monkeypatch
):
    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connector_actions, "do_resolve_sender", database_gone)
    event = telegram(client, bot, text_message())
    assert event.status == "failed"
    assert "OperationalError" in event.error

    monkeypatch.undo()
    assert process_event(event.pk) == "processed"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_the_agents_reply_goes_back_on_whatsapp_and_its_receipt_finds_it(client, number):
    agent = create_agent("kari", team=number.default_team, presence="available")
    twilio(client, number, From="whatsapp:+4791234567", WaId="4791234567", Body="Hei", NumMedia="0")
    conversation = Message.objects.get().conversation

    with override_settings(PUBLIC_URL="https://desk.example.com"), FakeProvider() as fake:
        number.config = {**number.config, "api_base": fake.url}
        number.save()
        fake.respond(201, {"sid": "SM" + "b" * 32, "status": "queued"})
        reply, _ = do_send_reply(conversation, "Hei Kari, vi ser på det", actor=agent)
        run_tasks()

    (request,) = fake.requests
    assert request.form()["To"] == ["whatsapp:+4791234567"]
    assert request.form()["From"] == ["whatsapp:+4740000000"]
    reply.refresh_from_db()
    assert (reply.channel, reply.delivery_status) == ("whatsapp", "queued")

    receipt = twilio_status(client, number, "SM" + "b" * 32, "read", To="whatsapp:+4791234567")
    assert receipt.status == "processed"
    reply.refresh_from_db()
    assert reply.delivery_status == "read"


def twilio_status(client, number: Inbox, sid: str, status: str, **fields: str) -> WebhookEvent:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC123", **fields}
    url = f"http://testserver/webhooks/twilio/{number.public_id}/status"
    signature = twilio_signature(AUTH_TOKEN, url, list(form.items()))
    client.post(
        url,
        data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    event = WebhookEvent.objects.get(inbox=number, external_id=f"{sid}:{status}")
    process_event(event.pk)
    event.refresh_from_db()
    return event


def test_a_wechat_message_with_an_impossible_creation_time_is_malformed():
    fields = {"FromUserName": "oUser", "MsgType": "text", "Content": "你好", "MsgId": "1"}
    with pytest.raises(MalformedPayload, match="CreateTime is an impossible date"):
        wechat.parse_fields({**fields, "CreateTime": "99999999999999999999"})
    (message,) = wechat.parse_fields({**fields, "CreateTime": "1718966400"}).messages
    assert message.sent_at is not None and message.sent_at.year == 2024


@pytest.mark.integration
@pytest.mark.django_db
def test_a_provider_id_longer_than_the_column_is_kept_as_its_hash_and_still_dedupes(
    client, sms_inbox
):
    long_id = "wamid." + "A" * 300
    for event_id in ("e1", "e2"):  # the same message delivered twice
        post_event(
            client,
            sms_inbox,
            {"id": event_id, "messages": [{"id": long_id, "from": "+4791234567", "text": "Hei"}]},
        )
    run_tasks()
    (message,) = Message.objects.all()
    assert message.external_id.startswith("sha256:") and len(message.external_id) <= 200
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_a_sender_that_is_no_valid_identity_is_refused_and_the_rest_of_the_delivery_kept(
    client, sms_inbox
):
    good = {"id": "SM1", "from": "+4791234567", "text": "Hei"}
    bad = {"id": "SM2", "from": "+999", "text": "Hei"}
    post_event(client, sms_inbox, {"id": "e1", "messages": [bad]})
    post_event(client, sms_inbox, {"id": "e2", "messages": [good, bad]})
    run_tasks()

    only_bad = WebhookEvent.objects.get(external_id="e1")
    assert only_bad.status == "ignored"
    assert "refused message SM2: not a phone number" in only_bad.error
    mixed = WebhookEvent.objects.get(external_id="e2")
    assert mixed.status == "processed" and "refused message SM2" in mixed.error
    assert list(Message.objects.values_list("external_id", flat=True)) == ["SM1"]


@pytest.mark.django_db
def test_an_sms_stop_does_not_close_whatsapp_through_the_same_number_but_its_window_does(
    client, number
):
    twilio(client, number, From="+4791234567", Body="STOP", MessageSid="SM" + "c" * 32)
    twilio(client, number, From="whatsapp:+4791234567", Body="Hei", NumMedia="0")
    customer = Message.objects.first().conversation.customer
    now = timezone.now()

    options = {o.channel: o.reachability for o in reachable_channels(customer, now)}
    assert options["sms"].reason == "opted out (STOP)"
    assert options["whatsapp"].reachable

    later = {
        o.channel: o.reachability for o in reachable_channels(customer, now + timedelta(hours=25))
    }
    assert later["whatsapp"].reason == "WhatsApp 24-hour window closed"
