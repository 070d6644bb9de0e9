"""The bot on SMS and WhatsApp: a customer asks in their language and gets the answer from the
bot, through the channel's provider, at once; the agent sees every turn."""

from __future__ import annotations

import pytest

from teamline.conversations.models import Conversation, Message, SenderKind, Status
from teamline.routing.models import WorkItem
from teamline.selfservice.models import EpisodeKind, SelfServiceEpisode

from .bot_world import INTENTS, PEOPLE, text_sms, write_whatsapp

pytestmark = pytest.mark.django_db

LANGUAGES = list(PEOPLE)


@pytest.mark.parametrize("intent", INTENTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_who_texts_a_question_gets_the_bots_answer_by_sms(
    client, sms, twilio, language, intent
):
    person = PEOPLE[language]

    text_sms(client, sms, person.number, person.asks[intent])

    [reply] = twilio.new()
    assert reply["to"] == person.number
    assert person.hears[intent] in reply["text"]
    conversation = Conversation.objects.get(customer__identities__value=person.number)
    bot = conversation.messages.get(sender_kind=SenderKind.BOT)
    assert bot.text == reply["text"]
    # Answered by the bot: waiting on the customer, in nobody's queue.
    assert conversation.status == Status.PENDING
    assert not WorkItem.objects.filter(conversation=conversation).exists()
    episode = SelfServiceEpisode.objects.get(conversation=conversation)
    assert (episode.kind, episode.channel, episode.subject) == (EpisodeKind.BOT, "sms", intent)


@pytest.mark.parametrize("intent", INTENTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_who_asks_on_whatsapp_gets_the_bots_answer_there(
    client, whatsapp, meta, language, intent
):
    person = PEOPLE[language]

    write_whatsapp(client, whatsapp, person.number, person.asks[intent])

    [reply] = meta.new()
    assert reply["to"] == person.number
    assert person.hears[intent] in reply["text"]
    # The answer ends with how to reach a person, in the customer's language.
    assert person.handoff_word.upper() in reply["text"].upper()
    conversation = Conversation.objects.get(customer__identities__value=person.number)
    assert conversation.status == Status.PENDING
    assert SelfServiceEpisode.objects.filter(
        conversation=conversation, kind=EpisodeKind.BOT, channel="whatsapp", subject=intent
    ).exists()


def test_the_bot_keeps_answering_the_same_conversation_turn_after_turn(client, whatsapp, meta):
    nora = PEOPLE["nb"]

    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])
    write_whatsapp(client, whatsapp, nora.number, nora.asks["data_left"])

    first, second = meta.new()
    assert nora.hears["balance"] in first["text"]
    assert nora.hears["data_left"] in second["text"]
    conversation = Conversation.objects.get()
    assert conversation.status == Status.PENDING
    assert list(conversation.messages.values_list("sender_kind", flat=True)) == [
        "customer",
        "bot",
        "customer",
        "bot",
    ]


def test_an_inbox_without_the_bot_sends_every_message_to_the_team(client, whatsapp, meta):
    whatsapp.config = {**whatsapp.config, "bot": False}
    whatsapp.save()
    nora = PEOPLE["nb"]

    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])

    assert meta.new() == []
    conversation = Conversation.objects.get()
    assert conversation.status == Status.OPEN
    assert WorkItem.objects.filter(conversation=conversation).exists()
    assert not Message.objects.filter(sender_kind=SenderKind.BOT).exists()
