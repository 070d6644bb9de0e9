"""The one map from a language tag to the six languages Teamline speaks (docs/i18n.md)."""

import pytest

from teamline.core.languages import (
    babel_locale,
    first_supported,
    inbox_language,
    language_for,
    language_from_header,
    parse_accept_language,
    supported_language,
)


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-TW", "zh-hant"),
        ("zh-HK", "zh-hant"),
        ("zh-MO", "zh-hant"),
        ("zh_Hant_TW", "zh-hant"),
        ("zh-Hant", "zh-hant"),
        ("zh-CN", "zh-hans"),
        ("zh-SG", "zh-hans"),
        ("zh", "zh-hans"),
        ("zh-Hans-CN", "zh-hans"),
        ("no", "nb"),
        ("nn", "nb"),
        ("nb-NO", "nb"),
        ("nn-NO", "nb"),
        ("nb", "nb"),
        ("pt-BR", "pt"),
        ("pt-PT", "pt"),
        ("pt_br", "pt"),
        ("et-EE", "et"),
        ("et", "et"),
        ("en-US", "en"),
        (" EN-gb ", "en"),
        ("pt_BR.UTF-8", "pt"),
    ],
)
def test_a_tag_maps_to_one_of_the_six(tag, language):
    assert supported_language(tag) == language


@pytest.mark.parametrize("tag", ["de", "fr-CA", "sv-SE", "", None, "*", "x", "zh-TW<script>", "12"])
def test_anything_else_is_none_of_them(tag):
    assert supported_language(tag) is None


def test_anything_else_falls_back_to_the_inbox_default_then_the_installation():
    assert language_for("de-DE", default=inbox_language({"language": "nb-NO"})) == "nb"
    assert language_for("zh-HK", default="nb") == "zh-hant"
    assert language_for("fr", default="klingon") == "en"
    assert inbox_language({}) == "en"
    assert inbox_language(None) == "en"


def test_browser_and_header_preferences_pick_the_first_language_spoken():
    assert first_supported(["de-DE", "fr", "zh-TW", "en"]) == "zh-hant"
    assert first_supported(["de", "fr"]) is None
    header = "de-DE,de;q=0.9,nb;q=0.3,pt-BR;q=0.8,en;q=0"
    assert parse_accept_language(header) == ["de-DE", "de", "pt-BR", "nb"]
    assert language_from_header(header) == "pt"
    assert language_from_header("en;q=0, et") == "et"
    assert language_from_header("*") is None
    assert language_from_header("") is None


def test_the_babel_locale_of_each_language():
    assert [babel_locale(c) for c in ["en", "nb", "zh-hans", "zh-hant", "et", "pt"]] == [
        "en",
        "nb",
        "zh_Hans",
        "zh_Hant",
        "et",
        "pt",
    ]
