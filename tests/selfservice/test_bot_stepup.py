"""The bot asks for a step-up when a flow needs a higher level: a web chat visitor whose record
holds a verified phone asks for their balance; the bot texts a code to that phone (the fake SMS
provider captures it) and says where it went; the visitor types it into the widget's verify
form (a `verify.code` frame, never a chat message) and, asked again, the bot answers from the
telco backend."""

from __future__ import annotations

import re
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from teamline.conversations.models import Inbox, Message, StepUp
from teamline.customers.actions import do_add_identity
from tests.connectors.support import run_tasks
from tests.widget.sockets import ChatTab, start_session

from .bot_world import PEOPLE

pytestmark = pytest.mark.django_db(transaction=True)

EN = PEOPLE["en"]


@pytest.fixture
def chat(nordlys, telco, sms):
    return Inbox.objects.create(
        name="Nordlys chat", kind="webchat", default_team=nordlys, config={"bot": True}
    )


@database_sync_to_async
def visitor_with_a_verified_phone(chat) -> str:
    """An anonymous visitor whose record an agent merged with their texts earlier: their phone
    is proven, but this chat proves nothing yet."""
    from teamline.connectors.actions import do_start_webchat_session

    session = do_start_webchat_session(chat)
    do_add_identity(session.customer, "phone", EN.number, verified=True)
    return session.token


async def bot_turn(tab: ChatTab, text: str) -> tuple[dict, list[dict]]:
    """The customer sends `text`; returns the bot's answer and the verification frames heard
    on the way."""
    await tab.send({"type": "message", "client_id": str(uuid.uuid4()), "text": text})
    heard: list[dict] = []
    ran = False
    while True:
        frame = await tab.next()
        if frame["type"] == "verification":
            heard.append(frame["verification"])
        elif frame["type"] == "message" and frame["message"]["from"] == "bot":
            return frame["message"], heard
        elif frame["type"] == "message" and not ran:
            await database_sync_to_async(run_tasks)()
            ran = True


async def next_of(tab: ChatTab, kind: str) -> dict:
    while True:
        frame = await tab.next()
        if frame["type"] == kind:
            return frame


async def test_the_bot_texts_a_code_and_answers_once_the_visitor_typed_it(chat, twilio):
    token = await visitor_with_a_verified_phone(chat)
    tab = ChatTab()
    ready = await tab.ready(token)
    assert ready["verification"] is None  # no conversation yet

    answer, heard = await bot_turn(tab, EN.asks["balance"])
    assert "I sent a code to •••• 3456" in answer["text"], answer["text"]
    assert heard[-1]["step_up"]["state"] == "pending"
    assert heard[-1]["step_up"]["destination"] == "•••• 3456"
    texts = [m for m in twilio.sent() if m["to"] == EN.number]
    code = re.search(r"\b(\d{6})\b", texts[-1]["text"]).group(1)

    await tab.send({"type": "verify.code", "code": f"{(int(code) + 1) % 10**6:06d}"})
    refused = await next_of(tab, "error")
    assert refused["about"] == "verification" and "wrong or has expired" in refused["detail"]

    await tab.send({"type": "verify.code", "code": code})
    verified = await next_of(tab, "verification")
    while verified["verification"]["level"] != "code":
        verified = await next_of(tab, "verification")
    assert verified["verification"]["method"] == "sms_code"

    answer, _ = await bot_turn(tab, EN.asks["balance"])
    assert EN.hears["balance"] in answer["text"]
    step_up = await database_sync_to_async(StepUp.objects.get)()
    assert step_up.by_bot and step_up.state == "verified" and step_up.failures == 1
    stored = await database_sync_to_async(
        lambda: list(Message.objects.values_list("text", flat=True))
    )()
    assert not any(code in text for text in stored)
    await database_sync_to_async(run_tasks)()
    await tab.close()


async def test_a_bad_verify_frame_is_a_clear_error(chat):
    token = await start_session(chat)
    tab = ChatTab()
    await tab.ready(token)
    await tab.send({"type": "verify.code", "code": 123456})
    error = await tab.next()
    assert error["about"] == "verification" and error["code"] == "invalid"
    await tab.send({"type": "verify.code", "code": "123456"})
    error = await tab.next()
    assert error["about"] == "verification" and error["code"] == "not_found"
    await tab.close()


# --- No code can reach the visitor: the bot asks them to sign in -------------------------------


@pytest.fixture
def brand_provider():
    from tests.support.oidc_provider import running_oidc_provider
    from tests.widget.test_brand_sign_in import CALLBACK, EMAIL

    with running_oidc_provider() as op:
        op.add_client("teamline-widget", "widget-secret", [CALLBACK])
        op.add_user("ingrid", email=EMAIL)
        yield op


@pytest.fixture
def chat_with_sign_in(nordlys, telco, brand_provider):
    """Nordlys's chat, whose visitors sign in with Nordlys's accounts; no SMS number and no
    mailbox are set up, so no code can reach anyone."""
    from tests.widget.test_brand_sign_in import offer_brand_sign_in

    inbox = Inbox.objects.create(
        name="Nordlys chat", kind="webchat", default_team=nordlys, config={"bot": True}
    )
    return offer_brand_sign_in(inbox, brand_provider)


async def test_with_no_code_channel_the_bot_asks_for_the_brand_sign_in_and_answers_after_it(
    chat_with_sign_in, brand_provider
):
    from tests.widget.test_brand_sign_in import EMAIL, sign_in

    @database_sync_to_async
    def visitor_whose_phone_and_email_are_proven() -> str:
        from teamline.connectors.actions import do_start_webchat_session

        session = do_start_webchat_session(chat_with_sign_in)
        do_add_identity(session.customer, "phone", EN.number, verified=True)
        do_add_identity(session.customer, "email", EMAIL, verified=True)
        return session.token

    tab = ChatTab()
    await tab.ready(await visitor_whose_phone_and_email_are_proven())
    answer, heard = await bot_turn(tab, EN.asks["balance"])
    assert "verify with one of the buttons below the chat" in answer["text"], answer["text"]
    asked = heard[-1]["step_up"]
    assert (asked["method"], asked["methods"], asked["state"]) == ("sign_in", ["oidc"], "pending")

    @database_sync_to_async
    def signs_in_with_nordlys() -> None:
        step_up = StepUp.objects.select_related("conversation").get()
        assert step_up.by_bot and step_up.requested_by is None
        response = sign_in(Client(), step_up.conversation, chat_with_sign_in, brand_provider)
        assert response.status_code == 200, response.content

    await signs_in_with_nordlys()
    verified = await next_of(tab, "verification")
    while verified["verification"]["level"] != "strong":
        verified = await next_of(tab, "verification")
    assert verified["verification"]["method"] == "oidc"
    assert verified["verification"]["step_up"]["state"] == "verified"

    answer, _ = await bot_turn(tab, EN.asks["balance"])
    assert EN.hears["balance"] in answer["text"]
    await database_sync_to_async(run_tasks)()
    await tab.close()
