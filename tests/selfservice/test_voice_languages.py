"""The IVR speaks the six languages of the brand's customers — English, Norwegian, Chinese in
simplified and traditional script, Estonian and Portuguese — each with a voice of the caller's
region: Taiwan hears Mandarin and Hong Kong Cantonese from the same traditional prompts,
Portugal and Brazil each their own Portuguese voice."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from teamline.core.testing import create_customer
from teamline.customers.actions import do_add_identity
from teamline.selfservice.models import VoiceCall
from teamline.selfservice.voices import VOICES, prompt_language
from tests.connectors.fake_twiml import Speech

pytestmark = pytest.mark.django_db

TAIPEI = "+886912345678"
HONG_KONG = "+85291234567"
MACAU = "+85366123456"
TALLINN = "+37251234567"
LISBON = "+351912345678"
SAO_PAULO = "+5511912345678"
OSLO = "+4791234567"
LOCALE = Path(__file__).resolve().parents[2] / "src" / "teamline" / "selfservice" / "locale"


def prefers(number: str, language: str, team) -> None:
    customer = create_customer(team=team, preferred_language=language)
    do_add_identity(customer, "phone", number, verified=True)


@pytest.mark.parametrize(
    ("caller", "language", "say", "voice", "speech", "welcome"),
    [
        (
            TAIPEI,
            "zh-hant",
            "cmn-TW",
            "Google.cmn-TW-Standard-A",
            "cmn-Hant-TW",
            "歡迎致電Nordlys Oslo。",
        ),
        (
            HONG_KONG,
            "zh-hk",
            "yue-HK",
            "Google.yue-HK-Standard-A",
            "yue-Hant-HK",
            "歡迎致電Nordlys Oslo。",
        ),
        (
            MACAU,
            "zh-hk",
            "yue-HK",
            "Google.yue-HK-Standard-A",
            "yue-Hant-HK",
            "歡迎致電Nordlys Oslo。",
        ),
        (
            TALLINN,
            "et",
            "et-EE",
            "Google.et-EE-Standard-A",
            "et-EE",
            "Tere tulemast, siin Nordlys Oslo.",
        ),
        (LISBON, "pt", "pt-PT", "Polly.Ines", "pt-PT", "Bem-vindo à equipa Nordlys Oslo."),
        (SAO_PAULO, "pt-br", "pt-BR", "Polly.Camila", "pt-BR", "Bem-vindo à equipe Nordlys Oslo."),
    ],
)
def test_a_caller_hears_their_countrys_language_in_their_regions_voice(
    phone, caller, language, say, voice, speech, welcome
):
    call = phone.call(caller, inputs=[None, None])

    assert VoiceCall.objects.get(call_sid=call.sid).language == language
    greeting = call.said[0]
    assert (greeting.text, greeting.language, greeting.voice) == (welcome, say, voice)
    assert {said.voice for said in call.said} == {voice}
    assert {gather["language"] for gather in call.gathers} == {speech}


@pytest.mark.parametrize(
    ("caller", "preferred", "voice"),
    [
        # A language without a region takes the voice of the number's region…
        (HONG_KONG, "zh-hant", "Google.yue-HK-Standard-A"),
        (SAO_PAULO, "pt", "Polly.Camila"),
        # …but a region the customer chose is kept, wherever they call from.
        (HONG_KONG, "zh-TW", "Google.cmn-TW-Standard-A"),
        (SAO_PAULO, "pt-PT", "Polly.Ines"),
        (TAIPEI, "zh-HK", "Google.yue-HK-Standard-A"),
        # A known language wins over the number's country.
        (OSLO, "et", "Google.et-EE-Standard-A"),
        (TALLINN, "pt_BR", "Polly.Camila"),
    ],
)
def test_the_customers_preferred_language_and_region(phone, oslo, caller, preferred, voice):
    prefers(caller, preferred, oslo)

    call = phone.call(caller, inputs=[None, None])

    assert call.said[0].voice == voice


def test_the_inbox_default_may_be_one_of_the_new_languages(phone, inbox):
    inbox.config = {"language": "et"}
    inbox.save()

    call = phone.call("+33612345678", inputs=["0"])

    assert call.said[0].text == "Tere tulemast, siin Nordlys Oslo."


@pytest.mark.parametrize(
    ("caller", "said", "heard"),
    [
        (TAIPEI, Speech("我想找真人"), "您排在第1位。"),
        (HONG_KONG, Speech("我要搵客服"), "您排在第1位。"),
        (TALLINN, Speech("null"), "Olete järjekorras 1."),
        (TALLINN, Speech("palun klienditeenindajat"), "Olete järjekorras 1."),
        (LISBON, Speech("quero falar com uma pessoa"), "É o número 1 na fila."),
        (SAO_PAULO, Speech("atendente por favor"), "Você é o número 1 na fila."),
    ],
)
def test_the_team_by_voice_in_each_new_language(phone, caller, said, heard):
    call = phone.call(caller, inputs=[said])

    assert call.on_hold
    assert heard in call.heard


@pytest.mark.parametrize(
    ("caller", "answer"),
    [
        (TAIPEI, "找不到這個號碼的方案，請按0聯絡您的團隊。"),
        (
            TALLINN,
            "Ma ei leidnud sellele numbrile lepingut; oma meeskonnaga rääkimiseks vajutage 0.",
        ),
        (
            SAO_PAULO,
            "Não encontrei nenhum plano para este número; digite 0 para falar com sua equipe.",
        ),
    ],
)
def test_self_service_answers_in_the_callers_language(phone, caller, answer):
    assert answer in phone.call(caller, inputs=["1"]).heard


def test_one_list_of_languages_serves_the_ivr_and_the_desk():
    codes = [code for code, _name in settings.LANGUAGES]

    assert codes == ["en", "nb", "zh-hans", "zh-hant", "et", "pt"]
    # Every language has a voice, and every call language's prompts are one of the six.
    assert set(codes) <= set(VOICES)
    assert {prompt_language(code) for code in VOICES} <= {*codes, "pt-br"}
    for code in [*codes[1:], "pt-br"]:
        catalog = LOCALE / translation.to_locale(code) / "LC_MESSAGES"
        assert (catalog / "django.po").exists() and (catalog / "django.mo").exists(), code
