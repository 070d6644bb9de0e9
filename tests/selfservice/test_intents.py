"""What a customer's words ask for, in six languages: keywords and synonyms, inflections,
typos, either Chinese script, and the handoff words that always win."""

from __future__ import annotations

import pytest
from django.utils import translation

from teamline.selfservice import answers
from teamline.selfservice.intents import (
    INTENTS,
    KEYWORDS,
    TALK_TO_PERSON,
    Recognition,
    classify,
    edit_distance,
    use_classifier,
)

from .bot_world import PEOPLE, write_whatsapp


@pytest.mark.parametrize("language", list(PEOPLE))
@pytest.mark.parametrize("intent", [i for i in INTENTS if i != TALK_TO_PERSON])
def test_each_intent_is_recognised_in_each_language(language, intent):
    recognition = classify(PEOPLE[language].asks[intent])

    assert recognition.intent == intent
    assert recognition.language == language


@pytest.mark.parametrize(
    "text, intent",
    [
        ("Whats my blaance", "balance"),  # a swap
        ("Hva er sladoen min?", "balance"),  # a swap in an inflected form
        ("Is there an outgae?", "outage"),
        ("Kan du forklare regnignen?", "bill_explained"),  # a swap, inflected
        ("opningstider", "opening_hours"),  # å typed as o
        ("apningstider", "opening_hours"),  # å typed as a
        ("Mis on minu arvel?", "bill_explained"),  # Estonian case ending
        ("Quero comprar mais dado", "buy_data"),
        ("I wnat an agnet", TALK_TO_PERSON),
    ],
)
def test_typos_inflections_and_missing_accents_are_understood(text, intent):
    assert classify(text).intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "Er dere åpent i dag?",  # "apent" is a word of its own, not a mistyped "agent"
        "What's the date today?",  # "date" is not "data": short words must be exact
        "Thanks, that's all",
    ],
)
def test_known_words_and_short_words_are_not_read_as_typos(text):
    assert classify(text).intent != TALK_TO_PERSON
    assert classify(text).intent != "data_left"


@pytest.mark.parametrize(
    "text",
    [
        "agent",
        "I want to talk to a person about my balance",
        "Jeg vil snakke med et menneske om regningen",
        "Tahan rääkida inimesega",
        "Quero falar com uma pessoa sobre o saldo",
        "转人工",
        "我要找真人客服",
        "人工服務",
    ],
)
def test_a_handoff_word_always_wins(text):
    assert classify(text).intent == TALK_TO_PERSON


def test_either_chinese_script_finds_the_same_intent_and_says_which_script():
    assert classify("余额") == Recognition("balance", "zh-hans", ("余额",))
    assert classify("餘額") == Recognition("balance", "zh-hant", ("余额",))
    assert classify("帳單").intent == classify("账单").intent == "bill_explained"
    # The same characters in both scripts: the customer's own language will decide.
    assert classify("人工").language == "zh"


def test_a_single_word_in_several_languages_leaves_the_language_to_the_customer():
    assert classify("SALDO") == Recognition("balance", None, ("saldo",))


def test_recognition_is_deterministic():
    texts = [p.asks[i] for p in PEOPLE.values() for i in p.asks]
    assert [classify(t) for t in texts] == [classify(t) for t in texts]


def test_edit_distance_counts_a_swap_of_neighbours_as_one_edit():
    assert edit_distance("saldo", "slado", 2) == 1
    assert edit_distance("balance", "blaance", 2) == 1
    assert edit_distance("outage", "outages", 2) == 1
    assert edit_distance("data", "menneske", 2) == 3  # beyond the limit: limit + 1


@pytest.mark.parametrize("language", list(PEOPLE))
def test_the_words_the_bot_tells_customers_to_write_are_words_it_understands(language):
    """The handoff word and the SMS keywords of the translations are in the vocabulary."""
    with translation.override(language):
        assert classify(answers.handoff_word()).intent == TALK_TO_PERSON
        for intent, word in answers.sms_keywords().items():
            assert classify(word).intent == intent, (language, word)


def test_every_language_has_keywords_for_every_intent():
    for language, by_intent in KEYWORDS.items():
        assert set(by_intent) == set(INTENTS), language


class OpeningHoursOnly:
    """A classifier of another kind (the seam for a smarter one later): it hears opening
    hours in everything."""

    def classify(self, text: str) -> Recognition:
        return Recognition("opening_hours", "en", ("(model)",))


@pytest.mark.django_db
def test_a_smarter_classifier_plugs_in_behind_the_same_seam(client, whatsapp, meta):
    previous = use_classifier(OpeningHoursOnly())
    try:
        write_whatsapp(client, whatsapp, PEOPLE["nb"].number, "Hva er saldoen min?")
    finally:
        use_classifier(previous)

    [reply] = meta.new()
    assert reply["text"].startswith("Nordlys answers Mon-Fri 08:00-20:00")
