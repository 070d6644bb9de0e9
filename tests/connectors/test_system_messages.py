"""Teamline's own messages to the customer — routing's honest promise, appointment reminders,
callback and appointment notices — reach them on the channel they used last, through the
outbox like an agent's reply; web chat still gets them on the socket. A customer who cannot be
reached there now gets a failed message with the reason, and routing carries on."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.connectors.actions import do_receive_inbound
from teamline.connectors.base import InboundMessage
from teamline.connectors.email import build_outbound_email
from teamline.connectors.sms import TwilioSmsConnector
from teamline.connectors.tasks import deliver, deliver_message, outbound_extra
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Inbox, Message, SenderKind
from teamline.core.events import customer_group
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)
from teamline.routing.appointments import available_slots, do_book_appointment, process_appointments
from teamline.routing.models import WorkItem
from teamline.teams.actions import do_set_business_hours
from teamline.teams.models import BusinessHours, Team

from .fake_provider import FakeProvider
from .support import run_tasks
from .test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms, sign, twilio_created

pytestmark = pytest.mark.django_db

NORA = "+4791234567"  # the customer's mobile (inbound_sms's From)
PROMISE = "Team Oslo is closed right now. A person will answer your message from 09:00"
# Nora writes in Norwegian: Teamline answers her in Norwegian (core.langid, docs/i18n.md).
PROMISE_NB = "Team Oslo er stengt akkurat nå. En person svarer på meldingen din fra "


def closed_now(team: Team) -> None:
    """Opening hours on one weekday only, three days from today in the team's time zone: by the
    real clock — the one the webhook pipeline and the worker route by — the team is closed."""
    today = timezone.localtime(timezone=ZoneInfo(team.timezone)).weekday()
    do_set_business_hours(team, [((today + 3) % 7, time(9), time(17))])


def twilio_inbox(team: Team, api_base: str) -> Inbox:
    inbox = Inbox.objects.create(name="Nordlys SMS", kind="sms", default_team=team)
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000", "api_base": api_base}
    inbox.save()
    return inbox


def texts_to_provider(fake: FakeProvider) -> list[tuple[str, str]]:
    return [(r.form()["To"][0], r.form()["Body"][0]) for r in fake.requests]


def system_messages(conversation: Conversation) -> list[Message]:
    return list(
        Message.objects.filter(conversation=conversation, sender_kind=SenderKind.SYSTEM).order_by(
            "pk"
        )
    )


def deliveries_enqueued() -> int:
    return DBTaskResult.objects.filter(task_path=deliver_message.module_path).count()


@override_settings(PUBLIC_URL="https://desk.example.com")
def test_an_sms_customer_who_writes_after_hours_gets_the_promise_by_sms_once(client):
    oslo = create_team("Oslo")
    create_agent("kari", team=oslo, presence="available")
    closed_now(oslo)
    with FakeProvider() as twilio:
        twilio.respond(201, twilio_created(sid="SMpromise"))
        inbox = twilio_inbox(oslo, twilio.url)
        path = f"/webhooks/twilio/{inbox.public_id}/"
        fields = inbound_sms("Hei, mobilen min virker ikke")
        signature = sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items()))
        response = client.post(
            path,
            data=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
        assert response.status_code == 200

        run_tasks()  # the webhook is processed, routed after hours, and the promise delivered

        conversation = Conversation.objects.get(customer__identities__value=NORA)
        [promise] = system_messages(conversation)
        assert promise.text.startswith(PROMISE_NB) and promise.text.endswith("kl. 09:00.")
        assert conversation.customer.preferred_language == "nb"
        assert (promise.channel, promise.inbox) == ("sms", inbox)
        assert (promise.delivery_status, promise.provider_message_id) == ("queued", "SMpromise")
        assert texts_to_provider(twilio) == [(NORA, promise.text)]
        item = WorkItem.objects.get(conversation=conversation)
        assert item.state == "queued" and item.promised_at is not None

        # The same delivery task run again (a replay, a requeued worker) sends nothing more.
        assert deliver(promise.pk) == "nothing to do"
        deliver_message.enqueue(promise.pk)
        run_tasks()
        assert len(twilio.requests) == 1


@override_settings(PUBLIC_URL="https://desk.example.com")
def test_an_appointment_reminder_reaches_an_sms_customer_as_an_sms():
    # Open on weekdays 09:00-11:00 in Oslo, four agents: one seat per slot for appointments.
    oslo = create_team("Oslo")
    for weekday in range(5):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="09:00", closes="11:00")
    for i in range(4):
        create_agent(f"oslo{i}", team=oslo)
    monday_8 = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)  # 08:00 in Oslo
    with FakeProvider() as twilio:
        for n in range(4):  # the promise (depending on the hour the test runs), booking, reminder
            twilio.respond(201, twilio_created(sid=f"SM{n}"))
        inbox = twilio_inbox(oslo, twilio.url)
        message = do_receive_inbound(
            inbox,
            InboundMessage(
                external_id="SMastrid1",
                channel="sms",
                sender_kind="phone",
                sender_value=NORA,
                sender_verified=True,
                text="Kan dere ringe meg i morgen?",
            ),
            connector=TwilioSmsConnector(),
        )
        assert message is not None
        conversation = message.conversation
        slot = available_slots(oslo, now=monday_8)[0]  # 09:00 Oslo
        do_book_appointment(
            conversation.customer,
            team=oslo,
            slot_start=slot.start,
            kind="call",
            phone=NORA,
            conversation=conversation,
            now=monday_8,
        )

        assert process_appointments(now=slot.start - timedelta(minutes=15))["reminded"] == 1
        run_tasks()

        # Nora wrote Norwegian: Teamline's booking and reminder are in Norwegian too.
        reminder = system_messages(conversation)[-1]
        assert reminder.text == (
            f"Påminnelse: telefonsamtalen din 09:00 med team Oslo (vi ringer {NORA})."
        )
        assert (reminder.channel, reminder.delivery_status) == ("sms", "queued")
        assert reminder.provider_message_id.startswith("SM")
        sent = texts_to_provider(twilio)
        assert sent.count((NORA, reminder.text)) == 1
        assert any(body.startswith("Booket: en telefonsamtale 09:00") for _, body in sent)


def test_a_web_chat_customer_still_gets_the_promise_on_the_socket_without_a_task(
    django_capture_on_commit_callbacks,
):
    oslo = create_team("Oslo")
    create_agent("kari", team=oslo, presence="available")
    closed_now(oslo)
    nora = create_customer(team=oslo)

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        conversation = customer_says(nora, "Hallo? Noen der?")[0].conversation

    [promise] = system_messages(conversation)
    assert promise.text.startswith(PROMISE)
    assert (promise.channel, promise.delivery_status) == ("webchat", "sent")
    assert deliveries_enqueued() == 0
    pushed = [
        event.customer
        for event, recipients in events
        if event.type == "message.created"
        and customer_group(nora.pk) in recipients.customer
        and event.customer
        and event.customer["id"] == promise.pk
    ]
    assert pushed == [
        {
            "id": promise.pk,
            "conversation_id": conversation.pk,
            "from": "system",
            "sender_name": None,
            "text": promise.text,
            "client_id": None,
            "created_at": promise.created_at.isoformat(),
        }
    ]


def test_a_whatsapp_customer_outside_the_window_gets_a_failed_promise_and_still_waits(caplog):
    oslo = create_team("Oslo")
    whatsapp = Inbox.objects.create(name="Nordlys WhatsApp", kind="whatsapp", default_team=oslo)
    nora = create_customer(team=oslo, identities=[("phone", NORA, True)])
    # Nora wrote on WhatsApp two days ago; the worker's router decides only now, after hours.
    message, _ = do_receive_customer_message(
        inbox=whatsapp,
        customer=nora,
        text="Hei! Jeg har ikke dekning på hytta",
        channel="whatsapp",
        external_id="wamid.nora-1",
        content={"sender": {"kind": "phone", "value": NORA, "verified": True}},
        defer_routing=True,
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=2))
    closed_now(oslo)

    run_tasks()  # the batch router's task

    conversation = message.conversation
    [promise] = system_messages(conversation)
    assert promise.text.startswith(PROMISE)
    assert (promise.channel, promise.delivery_status) == ("whatsapp", "failed")
    assert promise.delivery_error == (
        f"The customer cannot be reached by WhatsApp to {NORA} (Nordlys WhatsApp) now: "
        "WhatsApp 24-hour window closed: only approved templates can be sent"
    )
    assert deliveries_enqueued() == 0
    item = WorkItem.objects.get(conversation=conversation)
    assert item.state == "queued" and item.promised_at is not None
    assert "after hours" in item.reason
    assert "WhatsApp 24-hour window closed" in caplog.text and NORA not in caplog.text


def test_an_email_customer_gets_the_promise_as_an_automatic_answer_in_their_thread():
    oslo = create_team("Oslo")
    mailbox = Inbox.objects.create(
        name="Nordlys support mail",
        kind="email",
        default_team=oslo,
        config={"address": "support@nordlys.test"},
    )
    nora = create_customer(team=oslo, identities=[("email", "nora@example.com", False)])
    closed_now(oslo)

    message, _ = do_receive_customer_message(
        inbox=mailbox,
        customer=nora,
        text="My phone is broken",
        channel="email",
        channel_kind="email",
        external_id="<first@example.com>",
        content={
            "sender": {"kind": "email", "value": "nora@example.com", "verified": False},
            "email": {
                "from": "nora@example.com",
                "subject": "Broken phone",
                "message_id": "<first@example.com>",
            },
        },
    )

    [promise] = system_messages(message.conversation)
    assert (promise.channel, promise.delivery_status) == ("email", "queued")
    assert deliveries_enqueued() == 1
    # What the outbox hands the email connector: no agent, threaded, marked automatic.
    assert outbound_extra(promise)["agent_name"] == ""
    outbound = build_outbound_email(promise)
    assert outbound.to == "nora@example.com"
    assert outbound.extra["subject"] == "Re: Broken phone"
    assert outbound.extra["in_reply_to"] == "<first@example.com>"
    assert outbound.extra["automated"] is True
