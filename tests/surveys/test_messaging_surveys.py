"""Kari resolves a WhatsApp and a Telegram conversation; the survey arrives with buttons (a
WhatsApp list, a Telegram inline keyboard) and the customer's tap — the provider's callback
through the real webhook — is the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from teamline.connectors.base import OutboundMessage
from teamline.connectors.meta import MetaConnector
from teamline.connectors.meta_whatsapp import whatsapp_bodies
from teamline.conversations.models import Conversation, Inbox
from teamline.core.testing import create_agent, create_team
from teamline.surveys.models import SurveyResponse
from tests.connectors.fake_provider import FakeProvider
from tests.connectors.support import run_tasks
from tests.connectors.test_meta import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    encode,
    sign,
    wa_payload,
    wa_text,
)
from tests.connectors.test_telegram import BOT_TOKEN, CHAT, SECRET, USER

from .support import answer_and_resolve, customer_messages, survey_of, surveys_on

pytestmark = pytest.mark.django_db


# ---- WhatsApp --------------------------------------------------------------------------------


def whatsapp_inbox(team: Any, api_base: str) -> Inbox:
    inbox = Inbox.objects.create(name="WhatsApp", kind="whatsapp", default_team=team)
    inbox.credentials = {
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "verify_token": VERIFY_TOKEN,
    }
    inbox.config = {
        "api_version": "v21.0",
        "phone_number_id": PHONE_NUMBER_ID,
        "api_base": api_base,
    }
    inbox.save()
    return inbox


def post_meta(client: Any, inbox: Inbox, payload: dict[str, Any]) -> None:
    body = encode(payload)
    response = client.post(
        f"/webhooks/meta/{inbox.public_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body),
    )
    assert response.status_code == 200, response.content


def list_reply(row_id: str, title: str, wamid: str) -> dict[str, Any]:
    return {
        "from": "4791234567",
        "id": wamid,
        "timestamp": "1718966500",
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title}},
    }


def graph_ok(wamid: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "messages": [{"id": wamid}]}


def test_a_whatsapp_customer_taps_four_in_the_list(client):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    surveys_on(oslo)
    with FakeProvider() as graph:
        for n in range(4):
            graph.respond(200, graph_ok(f"wamid.out{n}"))
        inbox = whatsapp_inbox(oslo, graph.url)
        post_meta(client, inbox, wa_payload([wa_text("My data stopped working")]))
        run_tasks()
        conversation = Conversation.objects.get(inbox=inbox)
        answer_and_resolve(conversation, kari, "Restarted your data: try now!")
        run_tasks()

        survey = survey_of(conversation)
        assert (survey.state, survey.channel) == ("sent", "whatsapp")
        sent = graph.requests[-1].json()
        assert sent["type"] == "interactive"
        interactive = sent["interactive"]
        assert interactive["type"] == "list"
        assert interactive["body"]["text"].startswith("How satisfied are you with the help")
        rows = interactive["action"]["sections"][0]["rows"]
        assert [r["id"] for r in rows] == [f"tl-survey:{survey.token}:{s}" for s in (5, 4, 3, 2, 1)]
        assert all(len(r["title"]) <= 24 for r in rows)
        assert rows[2] == {
            "id": f"tl-survey:{survey.token}:3",
            "title": "3",
            "description": "3 – Neither satisfied nor dissatisfied",
        }

        post_meta(
            client,
            inbox,
            wa_payload([list_reply(rows[1]["id"], "4 – Satisfied", "wamid.tap1")]),
        )
        run_tasks()
        conversation.refresh_from_db()
        assert conversation.status == "resolved"
        response = SurveyResponse.objects.get(survey=survey)
        assert (response.score, response.channel) == (4, "whatsapp")
        assert graph.requests[-1].json()["text"]["body"] == "Thank you for your answer!"

        # Meta delivers the same tap again (at least once): stored once, nothing more.
        post_meta(
            client,
            inbox,
            wa_payload([list_reply(rows[1]["id"], "4 – Satisfied", "wamid.tap1")]),
        )
        run_tasks()
        assert len(customer_messages(conversation)) == 2
        assert SurveyResponse.objects.count() == 1


def test_a_list_with_more_rows_than_whatsapp_allows_goes_as_text():
    message = OutboundMessage(
        message_id=1,
        to="+4791234567",
        text="How likely are you to recommend us? Reply with a number from 0 to 10.",
        extra={"choices": [{"id": f"x:{n}", "title": str(n)} for n in range(11)]},
    )
    assert [body["type"] for body in whatsapp_bodies(message)] == ["text"]
    assert MetaConnector.provider == "meta"


# ---- Telegram --------------------------------------------------------------------------------


def telegram_inbox(team: Any, api_base: str) -> Inbox:
    inbox = Inbox.objects.create(name="Telegram bot", kind="telegram", default_team=team)
    inbox.credentials = {"bot_token": BOT_TOKEN, "secret_token": SECRET}
    inbox.config = {"api_base": api_base}
    inbox.save()
    return inbox


def post_telegram(client: Any, inbox: Inbox, update: dict[str, Any]) -> None:
    response = client.post(
        f"/webhooks/telegram/{inbox.public_id}/",
        data=json.dumps(update),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )
    assert response.status_code == 200, response.content


def sent_ok(message_id: int) -> dict[str, Any]:
    return {
        "ok": True,
        "result": {"message_id": message_id, "chat": CHAT, "date": 1735725660, "text": "x"},
    }


def test_a_telegram_customer_taps_five_on_the_inline_keyboard_in_norwegian(client):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    surveys_on(oslo)
    with FakeProvider() as bot_api:
        for n in range(4):
            bot_api.respond(200, sent_ok(100 + n))
        inbox = telegram_inbox(oslo, bot_api.url)
        post_telegram(
            client,
            inbox,
            {
                "update_id": 1001,
                "message": {
                    "message_id": 42,
                    "from": USER,  # language_code nb
                    "chat": CHAT,
                    "date": 1735725600,
                    "text": "Hei, jeg får ikke ringt fra hytta",
                },
            },
        )
        run_tasks()
        conversation = Conversation.objects.get(inbox=inbox)
        answer_and_resolve(conversation, kari, "Prøv nå!")
        run_tasks()

        survey = survey_of(conversation)
        assert (survey.state, survey.channel, survey.language) == ("sent", "telegram", "nb")
        request = bot_api.requests[-1].json()
        assert request["text"].startswith("Hvor fornøyd er du med hjelpen du fikk?")
        keyboard = request["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in keyboard] == [
            "5 – Svært fornøyd",
            "4 – Fornøyd",
            "3 – Verken fornøyd eller misfornøyd",
            "2 – Misfornøyd",
            "1 – Svært misfornøyd",
        ]
        five = keyboard[0][0]["callback_data"]
        assert five == f"tl-survey:{survey.token}:5" and len(five.encode()) <= 64

        post_telegram(
            client,
            inbox,
            {
                "update_id": 1002,
                "callback_query": {
                    "id": "4382bfdwdsb323b2d9",
                    "from": USER,
                    "message": {"message_id": 101, "chat": CHAT, "date": 1735725700},
                    "chat_instance": "-8312345678901234567",
                    "data": five,
                },
            },
        )
        run_tasks()
        conversation.refresh_from_db()
        assert conversation.status == "resolved"
        response = SurveyResponse.objects.get(survey=survey)
        assert (response.score, response.channel) == (5, "telegram")
        assert bot_api.requests[-1].json()["text"] == "Takk for svaret ditt!"


def test_a_callback_naming_another_customers_survey_is_a_normal_message(client):
    oslo = create_team("Oslo")
    surveys_on(oslo)
    with FakeProvider() as bot_api:
        inbox = telegram_inbox(oslo, bot_api.url)
        post_telegram(
            client,
            inbox,
            {
                "update_id": 2001,
                "message": {"message_id": 1, "from": USER, "chat": CHAT, "date": 1735725600,
                            "text": "Hei"},
            },
        )  # fmt: skip
        post_telegram(
            client,
            inbox,
            {
                "update_id": 2002,
                "callback_query": {"id": "q1", "from": USER, "message": {"message_id": 2,
                                   "chat": CHAT, "date": 1735725700},
                                   "data": "tl-survey:AAAAAAAAAAAAAAAAAAAAAAAA:5"},
            },
        )  # fmt: skip
        run_tasks()
        assert not SurveyResponse.objects.exists()
        conversation = Conversation.objects.get(inbox=inbox)
        assert conversation.status == "open"
        assert customer_messages(conversation)[-1].content["callback"]["id"] == "q1"
