"""What Teamline itself tells a customer follows the customer's language, not the agent's nor
the server's: Nora writes Norwegian, Mei-ling reads Traditional Chinese. Their booking reminder,
their callback promise and the email that tells them about a booking all arrive in their
language (docs/i18n.md, "The customer's language")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import translation

from teamline.connectors.base import OutboundMessage
from teamline.connectors.email import build_outbound_email, compose
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, Message, SenderKind
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.routing.appointments import (
    available_slots,
    do_book_appointment,
    process_appointments,
)
from teamline.routing.callbacks import do_request_callback
from teamline.teams.models import BusinessHours

pytestmark = pytest.mark.django_db

# Monday 6 January 2025, 08:00 in Oslo (UTC+1).
MONDAY_8_OSLO = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)
PHONE = "+4791234567"

CUSTOMERS = {
    # language: (name, what they write)
    "nb": ("Nora", "Kan dere ringe meg i morgen?"),
    "zh-hant": ("Mei-ling", "可以明天打電話給我嗎？"),
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def oslo():
    team = create_team("Oslo")
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens="09:00", closes="11:00")
    for i in range(4):
        create_agent(f"oslo{i}", team=team, capacity={"chat": 1, "voice": 1})
    return team


def system_texts(conversation):
    return list(
        Message.objects.filter(conversation=conversation, sender_kind=SenderKind.SYSTEM)
        .order_by("pk")
        .values_list("text", flat=True)
    )


def conversation_of(team, language):
    name, text = CUSTOMERS[language]
    customer = create_customer(team=team, name=name, preferred_language=language)
    conversation = customer_says(customer, text)[0].conversation
    conversation.refresh_from_db()
    return customer, conversation


@pytest.mark.parametrize(
    ("language", "booked", "reminder"),
    [
        (
            "nb",
            "Booket: en telefonsamtale 09:00 med team Oslo, på +4791234567. Vi minner deg på "
            "det 15 minutter før.",
            "Påminnelse: telefonsamtalen din 09:00 med team Oslo (vi ringer +4791234567).",
        ),
        (
            "zh-hant",
            "已預約：09:00 與Oslo團隊通話，我們將撥打 +4791234567。我們會提前 15 分鐘提醒您。",
            "提醒：您與Oslo團隊的通話在 09:00（我們將撥打 +4791234567）。",
        ),
    ],
)
def test_the_booking_and_its_reminder_are_in_the_customers_language(
    oslo, language, booked, reminder
):
    customer, conversation = conversation_of(oslo, language)
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]  # 09:00 in Oslo

    # An English-speaking agent books it from the desk: the customer still reads their own.
    with translation.override("en"):
        do_book_appointment(
            customer, team=oslo, slot_start=slot.start, kind="call", phone=PHONE,
            conversation=conversation, now=MONDAY_8_OSLO,
        )  # fmt: skip
    assert system_texts(conversation)[-1] == booked

    assert process_appointments(now=MONDAY_8_OSLO + timedelta(minutes=45))["reminded"] == 1
    assert system_texts(conversation)[-1] == reminder


def test_a_reminder_on_another_day_names_the_day_in_the_customers_words(oslo):
    customer, conversation = conversation_of(oslo, "nb")
    sunday_evening = MONDAY_8_OSLO - timedelta(hours=12)
    slot = available_slots(oslo, now=sunday_evening)[0]  # Monday 09:00

    do_book_appointment(
        customer, team=oslo, slot_start=slot.start, kind="chat", conversation=conversation,
        now=sunday_evening,
    )  # fmt: skip

    assert system_texts(conversation)[-1] == (
        "Booket: en chat i morgen kl. 09:00 med team Oslo. Vi minner deg på det 15 minutter før."
    )


@pytest.mark.parametrize(
    ("language", "promise"),
    [
        ("nb", "Vi ringer deg på +4791234567 når det er din tur. Du beholder plassen din i køen."),
        ("zh-hant", "輪到您時，我們會撥打 +4791234567 給您。您在佇列中的位置保持不變。"),
    ],
)
def test_the_callback_promise_is_in_the_customers_language(oslo, language, promise):
    _customer, conversation = conversation_of(oslo, language)

    with translation.override("en"):
        do_request_callback(conversation, "+47 912 34 567")

    assert system_texts(conversation)[-1] == promise


@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        (
            "nb",
            "Nordlys: samtalen din nr. {number}",
            "Booket: en chat 09:00 med team Oslo. Vi minner deg på det 15 minutter før.",
        ),
        (
            "zh-hant",
            "Nordlys：您的對話 #{number}",
            "已預約：09:00 與Oslo團隊線上對話。我們會提前 15 分鐘提醒您。",
        ),
    ],
)
def test_an_email_teamline_sends_has_its_subject_and_body_in_the_customers_language(
    oslo, language, subject, body
):
    mailbox = Inbox.objects.create(
        name="Nordlys",
        kind="email",
        default_team=oslo,
        config={"address": "support@nordlys.test"},
    )
    name, text = CUSTOMERS[language]
    customer = create_customer(
        team=oslo,
        name=name,
        preferred_language=language,
        identities=[("email", f"{name.lower()}@example.com", True)],
    )
    # The customer wrote from a contact form: an email conversation with no email to answer,
    # so Teamline's first email starts a thread with its own subject.
    message, _ = do_receive_customer_message(
        inbox=mailbox, customer=customer, text=text, channel="email", channel_kind="email",
        external_id=f"form-{name}",
    )  # fmt: skip
    conversation = message.conversation
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]

    with translation.override("en"):
        do_book_appointment(
            customer, team=oslo, slot_start=slot.start, kind="chat", conversation=conversation,
            now=MONDAY_8_OSLO,
        )  # fmt: skip
        booking = Message.objects.filter(
            conversation=conversation, sender_kind=SenderKind.SYSTEM
        ).latest("pk")
        outbound = build_outbound_email(booking)
        mime = compose(
            mailbox,
            OutboundMessage(
                to=outbound.to, text=booking.text, extra=outbound.extra, message_id=booking.pk
            ),
            message_id="<booking@nordlys.test>",
        )

    assert booking.channel == "email"
    assert str(mime["Subject"]) == subject.format(number=conversation.pk)
    assert mime.get_content().strip() == body
    assert mime["To"] == f"{name.lower()}@example.com"
