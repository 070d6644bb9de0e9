"""The sentiment word lists read customers the same way every time, in each of the six
languages: angry is negative, thanks positive, a negation turns a word around at half strength,
an intensifier makes it stronger, and ordinary questions are neutral."""

from __future__ import annotations

import pytest

from teamline.wellbeing.sentiment import MAX_CHARS, score_text

CASES = [
    # (language, text, expected score, expected lexicon)
    ("en", "This is terrible and I am angry", -4.0, "en"),
    ("en", "I am very angry", -3.0, "en"),
    ("en", "not bad at all", 0.5, "en"),
    ("en", "It is not helpful", -1.0, "en"),
    ("en", "Thanks, that was great", 3.0, "en"),
    ("nb", "Dette er forferdelig, jeg er sint", -4.0, "nb"),
    ("nb", "Jeg er veldig sint", -3.0, "nb"),
    ("nb", "Det var ikke dårlig", 0.5, "nb"),
    ("nb", "Elendige greier", -2.0, "nb"),  # "elendig*" matches its inflections
    ("nb", "Tusen takk, supert", 3.0, "nb"),
    ("et", "See on kohutav ja ma olen vihane", -4.0, "et"),
    ("et", "Ma olen väga pettunud", -1.5, "et"),
    ("et", "Aitäh, suurepärane", 3.0, "et"),
    ("pt", "Isto é péssimo, estou zangado", -5.0, "pt"),
    ("pt", "Não é mau", 0.5, "pt"),
    ("pt", "Muito obrigada, excelente", 3.5, "pt"),
    ("zh-hans", "你们的服务太差了", -2.0, "zh-hans"),
    ("zh-hans", "我非常生气", -3.0, "zh-hans"),
    ("zh-hans", "我不满意", -2.0, "zh-hans"),  # an entry of its own, not 满意 turned around
    ("zh-hans", "不是很满意", -0.75, "zh-hans"),
    ("zh-hans", "谢谢，问题解决了", 2.0, "zh-hans"),
    ("zh-hant", "你們的服務真是垃圾，我要投訴", -5.0, "zh-hant"),  # 真 intensifies 垃圾
    ("zh-hant", "我非常生氣", -3.0, "zh-hant"),
    ("zh-hant", "謝謝，幫大忙了", 3.0, "zh-hant"),
]


@pytest.mark.parametrize("language, text, score, lexicon", CASES)
def test_each_language_scores_its_words(language, text, score, lexicon):
    result = score_text(text, language)
    assert (result.value, result.language) == (score, lexicon)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, what is my balance?",
        "Hei, når kommer regningen min?",
        "Tere, kui palju mul andmeid on?",
        "Olá, qual é o meu saldo?",
        "我想查一下我的余额",
        "我想查詢我的帳單",
        "",
        "   ",
    ],
)
def test_ordinary_questions_are_neutral(text):
    result = score_text(text)
    assert (result.value, result.hits) == (0.0, 0)


def test_a_negation_does_not_reach_past_a_comma():
    assert score_text("No, it is terrible").value == -2.0
    assert score_text("不，太差了").value == -2.0


def test_the_language_is_found_by_the_words_not_only_the_customer_language():
    # A Norwegian customer writing English is read as English.
    assert score_text("I am so angry", "nb").language == "en"
    # A tie goes to the customer's language ("super" is Norwegian and Estonian).
    assert score_text("super", "et").language == "et"
    assert score_text("super", "nb").language == "nb"


def test_a_long_rant_is_bounded_and_only_the_beginning_is_read():
    assert score_text("terrible " * 50).value == -5.0
    assert score_text("x" * MAX_CHARS + " terrible").hits == 0


def test_the_same_text_always_scores_the_same():
    text = "我非常不满意，你们太差了！ Terrible."
    assert len({score_text(text, "zh-hans") for _ in range(5)}) == 1
