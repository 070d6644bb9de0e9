"""SMS keywords (no bot): a customer texts SALDO, BALANCE, 余额 or DATA to the brand's number
and gets the answer in one SMS in their language; an unknown word gets the help text; STOP,
START and HELP work exactly as before."""

from __future__ import annotations

import pytest

from teamline.connectors.sms import sms_segments
from teamline.conversations.models import Conversation, SenderKind, Status
from teamline.customers.models import Customer
from teamline.routing.models import WorkItem
from teamline.selfservice.models import BotSession, EpisodeKind, SelfServiceEpisode

from .bot_world import PEOPLE, sms_inbox, text_sms

pytestmark = pytest.mark.django_db

BALANCE_WORDS = {
    "en": "BALANCE",
    "nb": "SALDO",
    "et": "saldo",
    "pt": "Saldo",
    "zh-hans": "余额",
    "zh-hant": "餘額",
}
DATA_WORDS = {
    "en": "DATA",
    "nb": "DATA",
    "et": "ANDMED",
    "pt": "DADOS",
    "zh-hans": "流量",
    "zh-hant": "流量",
}
HELP_TEXT = {
    "en": "Text BALANCE for your balance, DATA for data left, OUTAGE for outages, HOURS",
    "nb": "Send SALDO for saldo, DATA for data igjen, DRIFT for driftsavbrudd, ÅPENT",
    "et": "Saatke SALDO saldo, ANDMED andmemahu, RIKE rikete, LAHTI",
    "pt": "Envie SALDO para o saldo, DADOS para dados, AVARIA para avarias, HORARIO",
    "zh-hans": "发送余额查余额，流量查流量，故障查故障，营业时间查营业时间。",
    "zh-hant": "傳送餘額查餘額，流量查流量，故障查故障，營業時間查營業時間。",
}


@pytest.fixture
def keywords(nordlys, twilio, telco):
    """The brand's SMS number answers keywords; no bot."""
    return sms_inbox(nordlys, twilio.fake.url, bot=False, sms_keywords=True)


def one_sms(twilio, number: str) -> str:
    [sent] = twilio.new()
    assert sent["to"] == number
    segments = sms_segments(sent["text"])[1]
    assert segments == 1, sent["text"]
    return sent["text"]


@pytest.mark.parametrize("language", list(PEOPLE))
def test_a_customer_who_texts_the_balance_keyword_gets_it_in_one_sms(
    client, keywords, twilio, language
):
    person = PEOPLE[language]

    text_sms(client, keywords, person.number, BALANCE_WORDS[language])

    text = one_sms(twilio, person.number)
    expected = person.hears["balance"]
    assert text.startswith(expected if language != "pt" else "O seu saldo é de 9,95")
    if not language.startswith("zh"):
        # Latin script: GSM-7, 160 characters a segment.
        assert sms_segments(text)[0] == "GSM-7"
    conversation = Conversation.objects.get()
    assert conversation.status == Status.PENDING
    assert not WorkItem.objects.exists()
    assert not BotSession.objects.exists()
    episode = SelfServiceEpisode.objects.get()
    assert (episode.kind, episode.channel, episode.subject) == (
        EpisodeKind.SMS_KEYWORD,
        "sms",
        "balance",
    )


@pytest.mark.parametrize("language", list(PEOPLE))
def test_a_customer_who_texts_the_data_keyword_gets_their_data_left(
    client, keywords, twilio, language
):
    person = PEOPLE[language]

    text_sms(client, keywords, person.number, DATA_WORDS[language])

    text = one_sms(twilio, person.number)
    assert person.hears["data_left"] in text
    assert SelfServiceEpisode.objects.get().subject == "data_left"


def test_letters_outside_gsm_7_are_spelled_plainly_so_the_answer_stays_one_cheap_sms(
    client, keywords, twilio
):
    maria = PEOPLE["pt"]

    text_sms(client, keywords, maria.number, "DADOS")

    text = one_sms(twilio, maria.number)
    # "disponíveis" (í is not in GSM 03.38) goes out as "disponiveis".
    assert "dados disponiveis" in text
    assert sms_segments(text)[0] == "GSM-7"


@pytest.mark.parametrize("language", list(PEOPLE))
def test_an_unknown_keyword_gets_the_help_text(client, keywords, twilio, language):
    person = PEOPLE[language]

    pizza = {"zh-hans": "披萨", "zh-hant": "披薩"}.get(language, "PIZZA")
    text_sms(client, keywords, person.number, pizza)

    assert one_sms(twilio, person.number).startswith(HELP_TEXT[language])
    assert Conversation.objects.get().status == Status.PENDING
    assert not SelfServiceEpisode.objects.exists()  # the help text answers nothing


def test_a_mistyped_keyword_is_still_understood(client, keywords, twilio):
    nora = PEOPLE["nb"]

    text_sms(client, keywords, nora.number, "SLADO")

    assert one_sms(twilio, nora.number).startswith("Saldoen din er 187,50 kroner.")


def test_a_question_in_words_goes_to_the_team(client, keywords, twilio):
    nora = PEOPLE["nb"]

    text_sms(client, keywords, nora.number, "Hei, mobilen min virker ikke på hytta")

    assert twilio.new() == []
    conversation = Conversation.objects.get()
    assert conversation.status == Status.OPEN
    assert WorkItem.objects.filter(conversation=conversation).exists()


def test_after_a_keyword_the_customers_next_question_reaches_the_team(client, keywords, twilio):
    nora = PEOPLE["nb"]
    text_sms(client, keywords, nora.number, "SALDO")
    twilio.new()

    text_sms(client, keywords, nora.number, "Takk! Hvorfor er regningen så høy denne måneden?")

    assert twilio.new() == []
    conversation = Conversation.objects.get()
    assert conversation.status == Status.OPEN
    assert WorkItem.objects.filter(conversation=conversation).exists()


def test_stop_start_and_help_work_as_before(client, keywords, twilio):
    nora = PEOPLE["nb"]
    keywords.config = {**keywords.config, "keyword_replies": {"help": "Nordlys: svar STOP"}}
    keywords.save()

    text_sms(client, keywords, nora.number, "STOP")

    customer = Customer.objects.get(identities__value=nora.number)
    assert customer.attributes["sms_opt_out"] == [nora.number]
    assert twilio.new() == []  # no keyword answer, and nothing to an opted-out number
    conversation = Conversation.objects.get()
    assert conversation.status == Status.OPEN  # the team sees it, as before
    assert not conversation.messages.filter(sender_kind=SenderKind.BOT).exists()

    text_sms(client, keywords, nora.number, "START")
    customer.refresh_from_db()
    assert customer.attributes["sms_opt_out"] == []

    text_sms(client, keywords, nora.number, "HELP")
    assert twilio.new() == []  # HELP is answered in the webhook's own reply, as before
    assert not SelfServiceEpisode.objects.exists()
    assert not BotSession.objects.exists()


def test_the_help_keyword_is_still_answered_in_the_webhooks_reply(client, keywords):
    import base64
    import hashlib
    import hmac
    from urllib.parse import urlencode

    from .bot_world import TWILIO_ACCOUNT, TWILIO_TOKEN

    keywords.config = {**keywords.config, "keyword_replies": {"help": "Nordlys: svar STOP"}}
    keywords.save()
    fields = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": TWILIO_ACCOUNT,
        "From": PEOPLE["nb"].number,
        "To": "+4759440000",
        "Body": "HELP",
    }
    path = f"/webhooks/twilio/{keywords.public_id}/"
    data = f"http://testserver{path}" + "".join(k + fields[k] for k in sorted(fields))
    signature = base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()

    response = client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )

    assert b"Nordlys: svar STOP" in response.content


def test_a_chinese_sentence_is_not_a_keyword_and_goes_to_the_team(client, keywords, twilio):
    fang = PEOPLE["zh-hans"]

    text_sms(client, keywords, fang.number, "我的手机坏了怎么办")

    assert twilio.new() == []
    assert Conversation.objects.get().status == Status.OPEN
