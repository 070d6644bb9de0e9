"""The customer's language from what they write: only when the text clearly says."""

import pytest

from teamline.core.langid import chinese_script, detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hei, mobilen min har ikke dekning hjemme i dag, kan dere hjelpe meg?", "nb"),
        ("Eg har ikkje dekning heime i dag, kva skal eg gjere?", "nb"),  # Nynorsk is Norwegian
        ("Tere, mul pole täna kodus levi, kas saate aidata?", "et"),
        ("Olá, o meu telemóvel não tem rede em casa hoje, podem ajudar?", "pt"),
        ("Oi, meu celular está sem sinal em casa hoje, vocês podem me ajudar?", "pt"),
        ("Hello, my phone has no signal at home today, can you help?", "en"),
        ("你好，我的手机今天在家里没有信号，可以帮我吗？", "zh-hans"),
        ("你好，我的手機今天在家裡沒有訊號，可以幫我嗎？", "zh-hant"),
    ],
)
def test_a_clear_text_says_its_language(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "takk",
        "obrigado!",
        "12345 67890",
        "",
        "人工",  # the same characters in both scripts: which Chinese is not clear
        "https://example.com/a/b/c",
    ],
)
def test_a_short_or_unclear_text_says_nothing(text):
    assert detect_language(text) is None


def test_chinese_script_tells_the_two_scripts_apart():
    assert chinese_script("我的手機") == "zh-hant"
    assert chinese_script("我的手机") == "zh-hans"
    assert chinese_script("人工") == "zh"
    assert chinese_script("hello") is None
