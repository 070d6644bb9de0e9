"""The customer's language from the channels: Telegram's language_code, an email's
Content-Language / Accept-Language, and what the customer writes (docs/i18n.md)."""

from __future__ import annotations

import pytest

from teamline.connectors.actions import do_receive_inbound
from teamline.connectors.base import connector_for_provider
from teamline.conversations.models import Inbox
from teamline.core.testing import create_team

from .test_email import customer_mail, request
from .test_telegram import CONNECTOR as TELEGRAM
from .test_telegram import USER, make_request, message, update

pytestmark = pytest.mark.django_db


def test_telegrams_language_code_is_a_hint_and_the_text_decides(inbox_telegram):
    brazilian = {**USER, "language_code": "pt-br"}
    first = TELEGRAM.parse(
        inbox_telegram,
        make_request(update(1, message=message(1, text="ok", **{"from": brazilian}))),
    ).messages[0]
    assert first.languages == ("pt-br",)
    stored = do_receive_inbound(inbox_telegram, first, connector=TELEGRAM)
    customer = stored.conversation.customer
    customer.refresh_from_db()
    assert (customer.preferred_language, customer.language_source) == ("pt", "channel")

    estonian = TELEGRAM.parse(
        inbox_telegram,
        make_request(
            update(
                2,
                message=message(
                    2,
                    text="Tere, mul pole täna kodus levi, kas saate aidata?",
                    **{"from": brazilian},
                ),
            )
        ),
    ).messages[0]
    do_receive_inbound(inbox_telegram, estonian, connector=TELEGRAM)
    customer.refresh_from_db()
    assert (customer.preferred_language, customer.language_source) == ("et", "detected")


def test_an_emails_content_language_header_is_a_hint(db):
    inbox = Inbox.objects.create(
        name="Support",
        kind="email",
        default_team=create_team("Support"),
        config={"address": "support@brand.example"},
    )
    mail = customer_mail("Obrigado.", Accept_Language="en;q=0.5")
    mail["Content-Language"] = "pt-PT"  # after the body: setting the body clears Content-*
    email = connector_for_provider("email")
    [inbound] = email.parse(inbox, request(bytes(mail))).messages
    assert inbound.languages == ("pt-PT", "en")
    stored = do_receive_inbound(inbox, inbound, connector=email)
    customer = stored.conversation.customer
    customer.refresh_from_db()
    assert (customer.preferred_language, customer.language_source) == ("pt", "channel")


@pytest.fixture
def inbox_telegram(db) -> Inbox:
    from .test_telegram import BOT_TOKEN, SECRET

    inbox = Inbox.objects.create(
        name="Telegram bot", kind="telegram", default_team=create_team("Oslo")
    )
    inbox.credentials = {"bot_token": BOT_TOKEN, "secret_token": SECRET}
    inbox.save()
    return inbox
