"""What counts as a typed score and as a tapped button: pure functions, no database."""

from __future__ import annotations

import pytest

from teamline.surveys.prompts import button_answer, typed_score

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWx"


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        (" 5 ", 5),
        ("\t4\n", 4),
        ("５", 5),  # full-width, as a Chinese or Japanese keyboard types it
        ("１０", 10),
        ("3.", 3),
        ("2!", 2),
        ("\u30001\u3000", 1),  # ideographic spaces
        ("10", 10),
        ("0", 0),
    ],
)
def test_a_bare_number_is_a_score(text, score):
    assert typed_score(text) == score


@pytest.mark.parametrize(
    "text",
    ["", "five", "5 stars", "I give it 5", "100", "-1", "4.5", "٥", "5" + "\x00", "x" * 10_000],
)
def test_anything_else_is_a_normal_message(text):
    assert typed_score(text) is None


def test_a_button_names_its_survey_and_score():
    whatsapp = {"interactive": {"type": "list_reply", "list_reply": {"id": f"tl-survey:{TOKEN}:4"}}}
    telegram = {"callback": {"id": "q", "data": f"tl-survey:{TOKEN}:5"}}
    assert button_answer(whatsapp) == (TOKEN, 4)
    assert button_answer(telegram) == (TOKEN, 5)
    for content in (
        {},
        {"callback": {"data": "tl-survey:short:5"}},
        {"callback": {"data": f"tl-survey:{TOKEN}:555"}},
        {"callback": "tl-survey"},
        {"interactive": {"list_reply": {"id": 5}}},
    ):
        assert button_answer(content) is None
