"""The bot in the web chat widget: a signed-in customer gets their own account's answers in
their language, an anonymous visitor is asked to sign in first, and the always-visible "Talk
to my team" button hands over at once."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from teamline.connectors.webchat import identity_hash
from teamline.conversations.models import Conversation, Status
from teamline.customers.actions import do_add_identity
from teamline.routing.models import WorkItem
from teamline.selfservice.models import BotSession, BotState, SelfServiceEpisode
from tests.connectors.support import run_tasks
from tests.widget.sockets import ChatTab, start_session

from .bot_world import INTENTS, PEOPLE

pytestmark = pytest.mark.django_db(transaction=True)

SIGN_IN_FIRST = {
    "en": "To tell you about your account I need to know it is you",
    "nb": "For å fortelle deg om kontoen din må jeg vite at det er deg",
    "et": "Konto kohta vastamiseks pean teadma, et see olete teie",
    "pt": "Para lhe falar da sua conta preciso de saber que é você",
    "zh-hans": "要告诉您账户信息，我需要确认是您本人",
    "zh-hant": "要告訴您帳戶資訊，我需要確認是您本人",
}
PASSING_YOU = {"en": "I am passing you to Nordlys", "nb": "Jeg sender deg videre til Nordlys"}


@pytest.fixture
def chat(nordlys, telco):
    from teamline.conversations.models import Inbox

    return Inbox.objects.create(
        name="Nordlys chat", kind="webchat", default_team=nordlys, config={"bot": True}
    )


@database_sync_to_async
def signed_in(chat, person) -> str:
    """The brand's page vouches for its signed-in user; their number is on their account."""
    from teamline.connectors.actions import do_start_webchat_session

    user_id = f"user-{person.number}"
    session = do_start_webchat_session(
        chat, user_id=user_id, user_hash=identity_hash(chat.secret, user_id)
    )
    do_add_identity(session.customer, "phone", person.number, verified=True)
    return session.token


async def bot_answers(tab: ChatTab, text: str, **extra) -> dict:
    """The customer sends `text`; returns the bot's message that answers it."""
    await tab.send({"type": "message", "client_id": str(uuid.uuid4()), "text": text, **extra})
    ack = await tab.next()
    assert ack["type"] == "ack", ack
    echo = await tab.next_message()
    assert echo["from"] == "customer"
    await database_sync_to_async(run_tasks)()
    while True:
        message = await tab.next_message()
        if message["from"] == "bot":
            return message


@pytest.mark.parametrize("language", list(PEOPLE))
async def test_a_signed_in_customer_gets_every_answer_in_their_language(chat, language):
    person = PEOPLE[language]
    token = await signed_in(chat, person)
    tab = ChatTab()
    await tab.ready(token)

    for intent in INTENTS:
        answer = await bot_answers(tab, person.asks[intent])
        assert person.hears[intent] in answer["text"], intent
    await tab.close()

    @database_sync_to_async
    def recorded():
        return sorted(SelfServiceEpisode.objects.values_list("subject", flat=True))

    assert await recorded() == sorted(INTENTS)


@pytest.mark.parametrize("language", list(PEOPLE))
async def test_an_anonymous_visitor_is_asked_to_sign_in_before_account_answers(chat, language):
    person = PEOPLE[language]
    token = await start_session(chat)
    tab = ChatTab()
    await tab.ready(token)

    answer = await bot_answers(tab, person.asks["balance"])

    assert answer["text"].startswith(SIGN_IN_FIRST[language])
    assert person.handoff_word.upper() in answer["text"].upper()
    # Public answers need no account.
    hours = await bot_answers(tab, person.asks["opening_hours"])
    assert person.hears["opening_hours"] in hours["text"]
    await tab.close()

    @database_sync_to_async
    def state():
        conversation = Conversation.objects.get()
        return conversation.status, list(
            SelfServiceEpisode.objects.values_list("subject", flat=True)
        )

    assert await state() == (Status.PENDING, ["opening_hours"])


async def test_the_talk_to_my_team_button_hands_over_at_once(chat):
    nora = PEOPLE["nb"]
    token = await signed_in(chat, nora)
    tab = ChatTab()
    await tab.ready(token)
    await bot_answers(tab, nora.asks["balance"])

    answer = await bot_answers(tab, "Jeg vil snakke med teamet mitt.", handoff=True)

    assert answer["text"].startswith(PASSING_YOU["nb"])
    await tab.close()

    @database_sync_to_async
    def state():
        conversation = Conversation.objects.get()
        session = BotSession.objects.get()
        note = conversation.messages.get(is_internal=True)
        return (
            conversation.status,
            WorkItem.objects.filter(conversation=conversation).exists(),
            session.state,
            session.handoff_reason,
            note.text,
        )

    status, routed, session_state, reason, note = await state()
    assert (status, routed, session_state, reason) == (
        Status.OPEN,
        True,
        BotState.HANDED_OVER,
        "widget_button",
    )
    assert "pressed Talk to my team" in note
    assert "Asked: balance" in note
    assert "verified: yes (signed-in session)" in note


async def test_a_handoff_flag_that_is_not_true_or_false_is_refused(chat):
    token = await start_session(chat)
    tab = ChatTab()
    await tab.ready(token)
    await tab.send(
        {"type": "message", "client_id": str(uuid.uuid4()), "text": "Hei", "handoff": "yes"}
    )

    error = await tab.next()

    assert error["type"] == "error" and error["code"] == "invalid"
    await tab.close()

    @database_sync_to_async
    def conversations():
        return Conversation.objects.count()

    assert await conversations() == 0
